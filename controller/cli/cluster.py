"""The cluster backend: OmveeJobs, pods and nodes read with a kubeconfig (or in-cluster)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from api.kubeclient import KubeConfigError, kube_client
from api.resultstore import ResultsSettings
from api.v1alpha1 import constants
from api.v1alpha1.names import omveejob_name
from api.v1alpha1.public import cancel_patch, retry_patch, to_public
from api.v1alpha1.resultfiles import FILE_NAME, result_files
from controller.cli.backend import CliError, job_id_of
from controller.cli.stats import Placement

TIMEOUT = (5.0, 30.0)  # connect, read
WATCH_SECONDS = 300
NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def api_client(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    """The CLI's Kubernetes client (api.kubeclient): ``kubeconfig``/``context`` when given,
    else the pod's service account in a pod, else $KUBECONFIG or ~/.kube/config; one retry,
    to fail fast on an unreachable API server. Raises ``CliError`` saying what to pass."""
    try:
        return kube_client(kubeconfig, context, retries=1)
    except KubeConfigError as error:
        raise CliError(
            f"{error}; pass --kubeconfig, set KUBECONFIG, or use the API with --api URL"
        ) from None


def public(ojob: dict[str, Any]) -> dict[str, Any]:
    """The public job view (``JobPublic`` as JSON) of an OmveeJob body, with its ``namespace``
    and ``name`` added."""
    metadata = ojob["metadata"]
    return {"namespace": metadata["namespace"], "name": metadata["name"]} | to_public(
        ojob
    ).model_dump(mode="json")


class ClusterBackend:
    """The CLI's Backend on the Kubernetes API: OmveeJobs in ``namespace`` (None: all),
    as served (camelCase dicts). Requests time out after TIMEOUT (connect, read) seconds;
    API errors not handled here raise ``kubernetes.client.ApiException``."""

    def __init__(self, api: client.ApiClient, namespace: str | None) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace

    # OmveeJobs, as served (camelCase dicts)

    def list_omveejobs(self, field_selector: str | None = None) -> list[dict[str, Any]]:
        """The OmveeJob bodies in the namespace (or all) matching ``field_selector``
        (e.g. "spec.jobId=..."); raises ApiException when the list is refused."""
        kwargs: dict[str, Any] = {"_request_timeout": TIMEOUT}
        if field_selector:
            kwargs["field_selector"] = field_selector
        group, version, plural = constants.GROUP, constants.VERSION, constants.PLURAL
        if self.namespace:
            listed = self.custom.list_namespaced_custom_object(
                group, version, self.namespace, plural, **kwargs
            )
        else:
            listed = self.custom.list_cluster_custom_object(group, version, plural, **kwargs)
        return list(listed.get("items") or [])

    def find(self, ref: str) -> dict[str, Any]:
        """The one OmveeJob ``ref`` names: by job id (spec.jobId, or the API's name for it)
        or by its name."""
        job_id = job_id_of(ref)
        if job_id:
            selectors = [f"metadata.name={omveejob_name(job_id)}", f"spec.jobId={job_id}"]
            if ref != job_id and ref.lower() == job_id:  # stored as typed, in capitals
                selectors.append(f"spec.jobId={ref}")
        elif NAME.fullmatch(ref):
            selectors = [f"metadata.name={ref}"]
        else:
            raise CliError(f"no job {ref}: expected a job id (a UUID) or an OmveeJob name")
        found: dict[str, dict[str, Any]] = {}
        for selector in selectors:
            for ojob in self.list_omveejobs(selector):
                found[ojob["metadata"]["uid"]] = ojob
            if found:
                break
        if not found:
            where = f" in namespace {self.namespace}" if self.namespace else ""
            raise CliError(f"no job {ref}{where}")
        if len(found) > 1:
            namespaces = ", ".join(sorted(o["metadata"]["namespace"] for o in found.values()))
            raise CliError(f"{ref} names jobs in several namespaces ({namespaces}); pass -n")
        return next(iter(found.values()))

    def _patch_spec(self, ojob: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        metadata = ojob["metadata"]
        body = {"metadata": {"resourceVersion": metadata["resourceVersion"]}, "spec": spec}
        try:
            patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                metadata["namespace"],
                constants.PLURAL,
                metadata["name"],
                body,
                _request_timeout=TIMEOUT,
            )
        except client.ApiException as error:
            if error.status == 409:
                raise CliError("the job changed meanwhile; look at it and try again") from None
            raise
        return patched

    def delete(self, ojob: dict[str, Any]) -> bool:
        """Delete it unless it changed since it was read (e.g. retried); False if it did."""
        metadata = ojob["metadata"]
        try:
            self.custom.delete_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                metadata["namespace"],
                constants.PLURAL,
                metadata["name"],
                body=client.V1DeleteOptions(
                    propagation_policy="Background",
                    preconditions=client.V1Preconditions(
                        resource_version=metadata["resourceVersion"]
                    ),
                ),
                _request_timeout=TIMEOUT,
            )
        except client.ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    # the Backend protocol

    def list_jobs(
        self, *, project: str | None, job_type: str | None, phase: str | None
    ) -> list[dict[str, Any]]:
        """Public views of the OmveeJobs matching the filters (None: any), selected on the
        server; raises ApiException when the list is refused."""
        selectors = {"spec.projectId": project, "spec.type": job_type, "status.phase": phase}
        field_selector = ",".join(f"{k}={v}" for k, v in selectors.items() if v)
        return [public(ojob) for ojob in self.list_omveejobs(field_selector or None)]

    def get_job(self, ref: str) -> dict[str, Any]:
        """The public view of the OmveeJob ``ref`` names; CliError when none or several."""
        return public(self.find(ref))

    def cancel(self, ref: str) -> dict[str, Any]:
        """Patch spec.cancel on the job ``ref`` names; its public view after the patch.
        CliError when there is no such job, it cannot be cancelled, or it changed meanwhile."""
        ojob = self.find(ref)
        patch = cancel_patch(ojob, ojob["spec"]["jobId"])
        if isinstance(patch, str):
            raise CliError(patch)
        return public(self._patch_spec(ojob, patch))

    def retry(self, ref: str) -> dict[str, Any]:
        """Patch spec.rerun on the ended job ``ref`` names; its public view after the patch.
        CliError when there is no such job, it cannot be retried, or it changed meanwhile."""
        ojob = self.find(ref)
        patch = retry_patch(ojob, ojob["spec"]["jobId"])
        if isinstance(patch, str):
            raise CliError(patch)
        return public(self._patch_spec(ojob, patch))

    def pods(self, ojob: dict[str, Any], run: int) -> list[dict[str, Any]]:
        """The run's pods, oldest first: attempt N is the Nth."""
        selector = (
            f"{constants.LABEL_OMVEEJOB}={ojob['metadata']['name']},{constants.LABEL_RUN}={run}"
        )
        response = self.core.list_namespaced_pod(
            ojob["metadata"]["namespace"],
            label_selector=selector,
            _preload_content=False,
            _request_timeout=TIMEOUT,
        )
        pods: list[dict[str, Any]] = json.loads(response.data).get("items", [])
        return sorted(
            pods, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"])
        )

    def logs(self, ref: str, attempt: int | None, follow: bool) -> Iterator[bytes]:
        """The log of attempt ``attempt`` (1-based; latest when None) of the current run, in
        chunks: the pod's while it exists, else the saved copy. CliError when there is none."""
        from controller.cli.podlogs import job_logs

        return job_logs(self, self.find(ref), attempt, follow)

    def result(self, ref: str, name: str) -> Iterator[bytes]:
        """Read from the results volume's directory on this machine ($OMVEE_RESULTS_DIR, the
        host directory the job pods mount); other stores are read through --api."""
        ojob = self.find(ref)
        spec = ojob["spec"]
        key = result_files(
            spec["projectId"], spec["jobId"], (ojob.get("status") or {}).get("result")
        )
        if not FILE_NAME.fullmatch(name) or name not in key:
            raise CliError(f"job {spec['jobId']} has no result file {name!r}")
        root = ResultsSettings.load().directory
        if not root:
            raise CliError(
                "reading a result file from the cluster needs OMVEE_RESULTS_DIR (the results "
                "volume's directory on this machine); or read it through the API with --api"
            )
        path = Path(root).resolve() / key[name]
        if path.resolve() != path or not path.is_file():  # no symbolic link on the way
            raise CliError(f"result file {name} of job {spec['jobId']} is not in {root}")
        with path.open("rb") as handle:
            yield from iter(lambda: handle.read(65536), b"")

    def pod_log(self, namespace: str, pod: str, follow: bool) -> Iterator[bytes] | None:
        """The pod's log as it streams, or None when the pod or its log is gone."""
        try:
            response = self.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=constants.CONTAINER_NAME,
                follow=follow,
                _preload_content=False,
                _request_timeout=(TIMEOUT[0], None) if follow else TIMEOUT,
            )
        except client.ApiException as error:
            if error.status in (400, 404):  # pod deleted, or container never started
                return None
            raise
        return _chunks(response)

    def watch(self, ref: str) -> Iterator[dict[str, Any]]:
        """The job's public view now, then after each change (watches of WATCH_SECONDS,
        resumed; reread on 410 Gone). CliError when there is none or it is deleted."""
        ojob = self.find(ref)
        namespace, name = ojob["metadata"]["namespace"], ojob["metadata"]["name"]
        yield public(ojob)
        version = ojob["metadata"]["resourceVersion"]
        while True:
            try:
                for event in watch.Watch().stream(
                    self.custom.list_namespaced_custom_object,
                    constants.GROUP,
                    constants.VERSION,
                    namespace,
                    constants.PLURAL,
                    field_selector=f"metadata.name={name}",
                    resource_version=version,
                    timeout_seconds=WATCH_SECONDS,
                ):
                    if event["type"] == "DELETED":
                        raise CliError(f"job {ref} was deleted")
                    if event["type"] in ("ADDED", "MODIFIED"):
                        version = event["object"]["metadata"]["resourceVersion"]
                        yield public(event["object"])
            except client.ApiException as error:
                if error.status != 410:  # history compacted: read it again and go on
                    raise
                ojob = self.find(ref)
                version = ojob["metadata"]["resourceVersion"]
                yield public(ojob)

    def list_pipelines(self, *, project: str | None) -> list[dict[str, Any]]:
        """Backend.list_pipelines, from the OmveeJobs with a spec.pipelineId."""
        from controller.cli.pipelines import cluster_summaries

        selector = (f"spec.projectId={project.lower()}," if project else "") + "spec.pipelineId!="
        return cluster_summaries(self.list_omveejobs(selector))

    def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        """Backend.get_pipeline, from the OmveeJobs with that spec.pipelineId."""
        from controller.cli.pipelines import cluster_pipeline

        steps = self.list_omveejobs(f"spec.pipelineId={pipeline_id}")
        return cluster_pipeline(pipeline_id, steps, public)

    def placement(self) -> Placement | None:
        """Every node and every pod not yet ended, or None when listing nodes or pods is
        forbidden (403: a namespaced identity); other refusals raise ApiException."""
        try:
            nodes = self.core.list_node(_preload_content=False, _request_timeout=TIMEOUT)
            pods = self.core.list_pod_for_all_namespaces(
                field_selector="status.phase!=Succeeded,status.phase!=Failed",
                _preload_content=False,
                _request_timeout=TIMEOUT,
            )
        except client.ApiException as error:
            if error.status == 403:  # a namespaced identity: no nodes, no GPU use
                return None
            raise
        return Placement(
            nodes=json.loads(nodes.data).get("items", []),
            pods=json.loads(pods.data).get("items", []),
        )


def _chunks(response: Any) -> Iterator[bytes]:
    try:
        yield from response.stream(4096)
    finally:
        response.release_conn()
