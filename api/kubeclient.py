"""The one way every component builds its Kubernetes client: the operator, the API, the CLI and
its tools, and the job pods.

Which credentials, in this order:

1. an explicit kubeconfig file or context (the CLI's ``--kubeconfig`` / ``--context``): that
   kubeconfig and nothing else;
2. in a pod (``$KUBERNETES_SERVICE_HOST`` and ``$KUBERNETES_SERVICE_PORT`` set, the service
   account's token and CA certificate mounted): the pod's service account;
3. otherwise the kubeconfig named by ``$KUBECONFIG`` (several, ``:``-separated, are merged),
   else ``~/.kube/config``: the operator and API run as local processes so, and the tests.

Each caller gets its own ``Configuration``; the kubernetes package's process-wide default is
left alone. (kopf's own login, ``kopf.login_via_client``, follows steps 2 and 3 likewise.)
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.incluster_config import InClusterConfigLoader

# Where Kubernetes mounts a pod's service account credentials.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeConfigError(config.ConfigException):  # type: ignore[misc]  # untyped client
    """No usable Kubernetes credentials; the message says what was tried and why each failed."""


def kube_configuration(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    pool_size: int | None = None,
    retries: int | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> client.Configuration:
    """A new client ``Configuration`` with the credentials chosen as the module says.

    ``kubeconfig``: a kubeconfig file (or ``:``-separated files); ``context``: one of its
    contexts (default: its current context). ``pool_size``: connections kept to the API
    server (urllib3's pool; a request beyond it opens and drops one); ``retries``: urllib3's
    retries of a failed connection (None: the client's default). ``service_account_dir``: where
    the pod's ``token`` and ``ca.crt`` are (tests point it elsewhere).

    Raises ``KubeConfigError`` (a ``kubernetes.config.ConfigException``) when the explicit
    kubeconfig is unusable, or when neither the service account nor a kubeconfig is.
    """
    configuration = client.Configuration()
    if kubeconfig or context:
        _load_kubeconfig(configuration, kubeconfig, context)
    else:
        try:
            InClusterConfigLoader(
                token_filename=str(service_account_dir / "token"),
                cert_filename=str(service_account_dir / "ca.crt"),
            ).load_and_set(configuration)
        except config.ConfigException as in_cluster:
            try:
                _load_kubeconfig(configuration, os.environ.get("KUBECONFIG") or None, None)
            except KubeConfigError as error:
                raise KubeConfigError(
                    f"{error}; and not in a pod with a service account ({in_cluster})"
                ) from None
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    if retries is not None:
        configuration.retries = retries
    return configuration


def kube_client(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    pool_size: int | None = None,
    retries: int | None = None,
) -> client.ApiClient:
    """An ``ApiClient`` on ``kube_configuration(kubeconfig, context, pool_size=...,
    retries=...)``; raises ``KubeConfigError`` as that does. A client of another class (the
    operator's rate-limited one) is built on ``kube_configuration`` directly."""
    return client.ApiClient(
        kube_configuration(kubeconfig, context, pool_size=pool_size, retries=retries)
    )


def _load_kubeconfig(
    configuration: client.Configuration, kubeconfig: str | None, context: str | None
) -> None:
    """Fill ``configuration`` from ``kubeconfig`` (None: the client's default location,
    ``$KUBECONFIG`` when the process started, else ``~/.kube/config``)."""
    try:
        config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except (config.ConfigException, OSError) as error:
        where = kubeconfig or "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
        raise KubeConfigError(f"no usable kubeconfig in {where}: {error}") from None
