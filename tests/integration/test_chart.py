"""The Helm chart: lint, render, bad values refused, manifests validated by the real API server,
and a real `helm install` that creates every object."""

from __future__ import annotations

import base64
import ipaddress
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic

from api.catalog.profiles import DEFAULT_PROFILES, load_catalog
from api.statuswords import StatusWords
from api.v1alpha1.types import OmveeJobSpec
from controller.builders import job_labels
from tests.crds import install_chart_crds
from tests.helm import CHART, Helm, HelmError, servicemonitor_crd
from tests.namespaces import JOB_RUNNER_RBAC, create_namespace

EVERYTHING = [
    "--set", "operator.clusterWide=true",
    "--set", "networkPolicy.enabled=true",
    "--set", "serviceMonitor.enabled=true",
    "--set", "api.ingress.enabled=true",
    "--set", "api.ingress.className=nginx",
    "--set", "api.ingress.tlsSecretName=omvee-tls",
    "--set", "api.auth.existingSecret=omvee-auth",
    "--set", "mirror.mode=supabase",
    "--set", "mirror.supabase.url=https://abcd.supabase.co",
    "--set", "mirror.supabase.existingSecret=supabase",
    "--set", "logs.store=supabase",
    "--set", "results.store=supabase",
    "--set", "results.existingSecret=omvee-results",
    "--set", "image.tag=test",
]  # fmt: skip
VALUE_SETS = {
    "defaults": [],
    "everything": EVERYTHING,
    "kind": ["-f", str(CHART / "examples/values-kind.yaml")],
    "namespaced-postgres-no-api": [
        "--set", "jobNamespaces={media-jobs,batch-jobs}",
        "--set", "mirror.mode=postgres",
        "--set", "mirror.postgres.existingSecret=mirror-dsn",
        "--set", "api.enabled=false",
        "--set", "operator.replicas=1",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def offline_helm() -> Helm:
    return Helm()


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.mark.parametrize("values", VALUE_SETS, ids=list(VALUE_SETS))
def test_lint_passes(offline_helm: Helm, values: str) -> None:
    result = offline_helm.run("lint", "--strict", str(CHART), *VALUE_SETS[values])
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "operator.replicas=-1"], "at '/operator/replicas': minimum: got -1, want 0"),
        (["--set", "mirror.mode=mysql"], "at '/mirror/mode': value must be one of"),
        (
            ["--set", "mirror.mode=supabase", "--set", "mirror.supabase.existingSecret=s"],
            "at '/mirror/supabase/url': '' does not match pattern",
        ),
        (
            ["--set", "mirror.mode=postgres"],
            "at '/mirror/postgres/existingSecret': minLength: got 0, want 1",
        ),
        (
            ["--set", "logs.store=supabase"],
            "at '/mirror/supabase/url': '' does not match pattern",
        ),
        (["--set", "logs.store=s3"], "at '/logs/store': value must be one of"),
        (["--set", "results.store=s3"], "at '/results/store': value must be one of"),
        (["--set", "results.store=volume"], "at '/results'"),
        (
            ["--set", "results.store=supabase"],
            "at '/results/existingSecret': minLength: got 0, want 1",
        ),
        (
            ["--set", "results.store=volume", "--set", "results.hostPath=rel"],
            "at '/results/hostPath'",
        ),
        (["--set", "operator.replica=2"], "additional properties 'replica' not allowed"),
        (["--set", "jobs.types.transcription.retries=20"], "maximum: got 20, want 10"),
        (["--set", "jobs.types.upscaling.image=x"], "additional properties 'upscaling'"),
        (["--set", "jobNamespaces={Bad_Name}"], "at '/jobNamespaces/0'"),
        (["--set", "api.blockedNetworks={everything}"], "at '/api/blockedNetworks/0'"),
        (
            ["--set", "jobs.networkPolicy.blockedCIDRs={metadata}"],
            "at '/jobs/networkPolicy/blockedCIDRs/0'",
        ),
        (["--set", "jobs.networkPolicy.podCidr=10.0.0.0/8"], "additional properties 'podCidr'"),
        (["--set", "mirror.statusWords.finished=done"], "propertyName 'finished'"),
        (["--set", "mirror.statusWords.queued= pending"], "at '/mirror/statusWords/queued'"),
    ],
)
def test_wrong_values_fail_with_the_key_named(
    offline_helm: Helm, args: list[str], message: str
) -> None:
    with pytest.raises(HelmError) as raised:
        offline_helm.template(*args)
    assert "values don't meet the specifications of the schema" in str(raised.value)
    assert message in str(raised.value)


def catalog_of(objects: list[dict[str, Any]], tmp_path: Path) -> Any:
    [configmap] = [
        o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("catalog")
    ]
    path = tmp_path / "profiles.yaml"
    path.write_text(configmap["data"]["profiles.yaml"])
    return load_catalog(path)


def test_default_catalog_is_the_shipped_profiles(offline_helm: Helm, tmp_path: Path) -> None:
    """What the operator reads in a cluster is exactly what it reads from the repository."""
    assert catalog_of(offline_helm.template(), tmp_path) == load_catalog(DEFAULT_PROFILES)


def test_catalog_follows_values(offline_helm: Helm, tmp_path: Path) -> None:
    catalog = catalog_of(
        offline_helm.template(
            "-f", str(CHART / "examples/values-kind.yaml"),
            "--set", "jobs.types.scene-generation.retries=5",
            "--set", "jobs.gpu.nodeSelector.pool=a100",
            "--set", "jobs.serviceAccountName=runner",
        ),
        tmp_path,
    )  # fmt: skip
    transcription = catalog.profiles["transcription"]
    assert not transcription.gpu and transcription.node_selector == {}
    assert transcription.tolerations == []
    assert catalog.profiles["scene-generation"].retries == 5
    image = catalog.profiles["image-generation"]
    assert image.resources.limits == {"memory": "8Gi"}
    assert catalog.profiles["scene-generation"].service_account_name == "runner"
    gpu = catalog_of(offline_helm.template("--set", "jobs.gpu.nodeSelector.pool=a100"), tmp_path)
    assert gpu.profiles["video-generation"].node_selector == {
        "nvidia.com/gpu.present": "true",
        "pool": "a100",
    }


def test_job_runner_rights_match_the_example(offline_helm: Helm) -> None:
    example = {o["kind"]: o for o in yaml.safe_load_all(JOB_RUNNER_RBAC.read_text())}
    objects = offline_helm.template("--set", "jobNamespaces={a,b}", "--namespace", "a")
    roles = [o for o in by_kind(objects, "Role") if o["metadata"]["name"] == "omvee-job-runner"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["a", "b"]
    assert all(r["rules"] == example["Role"]["rules"] for r in roles)


def job_egress(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in by_kind(objects, "NetworkPolicy") if o["metadata"]["name"].endswith("-jobs")]


def selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
        e["operator"] == "Exists" and e["key"] in labels
        for e in selector.get("matchExpressions", [])
    )


def allows(policy: dict[str, Any], address: str, port: int, protocol: str = "TCP") -> bool:
    """Whether the egress rules let a selected pod connect to ``address``:``port``."""
    ip = ipaddress.ip_address(address)

    def in_block(block: dict[str, Any]) -> bool:
        cidr = ipaddress.ip_network(block["cidr"])
        return (
            ip.version == cidr.version
            and ip in cidr
            and not any(
                ip in ipaddress.ip_network(e)
                for e in block.get("except", [])
                if ipaddress.ip_network(e).version == ip.version
            )
        )

    for rule in policy["spec"]["egress"]:
        ports = rule.get("ports")
        if ports and not any(
            p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports
        ):
            continue
        # A namespaceSelector peer (DNS in kube-system) matches pods, not addresses.
        if "to" not in rule or any(
            in_block(peer["ipBlock"]) for peer in rule["to"] if "ipBlock" in peer
        ):
            return True
    return False


def test_job_pods_may_reach_dns_the_api_server_and_the_internet_only(offline_helm: Helm) -> None:
    objects = offline_helm.template("--set", "jobNamespaces={a,b}", "--namespace", "a")
    policies = job_egress(objects)
    assert sorted(p["metadata"]["namespace"] for p in policies) == ["a", "b"]
    policy = policies[0]
    assert policy["spec"]["policyTypes"] == ["Egress"]
    spec = OmveeJobSpec.model_validate(
        {"type": "transcription", "projectId": str(uuid.uuid4()), "jobId": str(uuid.uuid4())}
        | {"input": {"audioUrl": "https://media.example.com/a.mp3"}}
    )
    assert selects(policy, job_labels("job-x", spec, 0))  # what the operator puts on job pods
    for deployment in by_kind(objects, "Deployment"):  # the operator and the API: not jobs
        assert not selects(policy, deployment["spec"]["template"]["metadata"]["labels"])
    for address, port, protocol, allowed in [
        ("169.254.169.254", 80, "TCP", False),  # cloud metadata
        ("169.254.169.254", 443, "TCP", False),
        ("10.244.3.7", 8080, "TCP", False),  # a pod
        ("10.96.12.1", 80, "TCP", False),  # a service
        ("192.168.1.10", 10250, "TCP", False),  # a node's kubelet
        ("169.254.20.10", 53, "UDP", True),  # NodeLocal DNSCache
        ("10.244.3.7", 53, "UDP", False),  # any pod's port 53: only kube-system's (below)
        ("8.8.8.8", 53, "UDP", True),  # a public resolver is the internet
        ("10.96.0.1", 443, "TCP", True),  # the API server (not looked up offline: any address)
        ("93.184.215.14", 443, "TCP", True),  # the internet
        ("93.184.215.14", 8080, "TCP", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443, "TCP", True),
        ("fe80::1", 80, "TCP", False),
        ("fd00:ec2::254", 80, "TCP", False),
    ]:
        assert allows(policy, address, port, protocol) is allowed, (address, port)
    [dns] = [
        r for r in policy["spec"]["egress"] if {"port": 53, "protocol": "UDP"} in r.get("ports", [])
    ]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    } in dns["to"]


def test_job_egress_follows_values(offline_helm: Helm) -> None:
    [policy] = job_egress(
        offline_helm.template(
            "--set", "jobs.networkPolicy.apiServer.cidrs={172.18.0.2/32,10.96.0.1/32}",
            "--set", "jobs.networkPolicy.podCIDR=30.0.0.0/16",
            "--set", "jobs.networkPolicy.extraEgress[0].to[0].ipBlock.cidr=10.20.0.5/32",
        )
    )  # fmt: skip
    assert allows(policy, "172.18.0.2", 6443) and allows(policy, "10.96.0.1", 443)
    assert not allows(policy, "10.244.0.9", 443)  # 443 only to the API server
    assert not allows(policy, "30.0.3.4", 80)  # a pod network in public space
    assert allows(policy, "10.20.0.5", 80)  # an in-cluster dependency, listed
    assert not job_egress(offline_helm.template("--set", "jobs.networkPolicy.enabled=false"))


def test_the_operator_passes_the_apis_url_policy_to_job_pods(offline_helm: Helm) -> None:
    objects = offline_helm.template(
        "--set", "api.urlHosts={*.example-cdn.com}",
        "--set", "api.blockedNetworks={10.0.0.0/8}",
    )  # fmt: skip
    deployments = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    envs = {
        name.rsplit("-", 1)[-1]: {
            e["name"]: e.get("value") for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        for name, d in deployments.items()
    }
    assert envs["operator"]["OMVEE_URL_HOSTS"] == envs["api"]["OMVEE_API_URL_HOSTS"]
    assert envs["operator"]["OMVEE_URL_HOSTS"] == '["*.example-cdn.com"]'
    assert envs["operator"]["OMVEE_URL_BLOCKED_NETWORKS"] == '["10.0.0.0/8"]'
    assert envs["api"]["OMVEE_API_BLOCKED_NETWORKS"] == '["10.0.0.0/8"]'


def test_pods_are_hardened_and_probed(offline_helm: Helm) -> None:
    for deployment in by_kind(offline_helm.template(*EVERYTHING), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        [container] = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert container["livenessProbe"] and container["readinessProbe"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["image"] == "ghcr.io/omvee/omvee-jobs:test"


def test_operator_replicas_share_one_peering(offline_helm: Helm) -> None:
    objects = offline_helm.template(*EVERYTHING)
    [operator] = [
        o for o in by_kind(objects, "Deployment") if o["metadata"]["name"].endswith("operator")
    ]
    env = {e["name"]: e for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    [peering] = by_kind(objects, "ClusterKopfPeering")
    assert env["OMVEE_PEERING"]["value"] == peering["metadata"]["name"]
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert operator["spec"]["replicas"] == 2
    assert env["SUPABASE_SERVICE_ROLE_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "supabase"
    [role] = by_kind(objects, "ClusterRole")
    patch_own_peering = {
        "apiGroups": ["kopf.dev"],
        "resources": ["clusterkopfpeerings"],
        "resourceNames": [peering["metadata"]["name"]],
        "verbs": ["patch"],
    }
    assert patch_own_peering in role["rules"]
    namespaced = offline_helm.template("--set", "jobNamespaces={a,b}", "--namespace", "a")
    assert sorted(p["metadata"]["namespace"] for p in by_kind(namespaced, "KopfPeering")) == [
        "a",
        "b",
    ]
    assert not by_kind(namespaced, "ClusterRole")


# --- against the local control plane ---------------------------------------------------------


def kubectl(kubeconfig: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # Discovery is cached beside the kubeconfig, so it goes with this cluster: ~/.kube/cache is
    # keyed by address only, and a cluster started afresh on the same port would be described
    # by its predecessor's resources (a missing CRD then reads "could not find the requested
    # resource" instead of "no matches for kind").
    return subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(kubeconfig.parent / "kubectl-cache"),
            *args,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def prometheus_crds(kubeconfig: Path) -> None:
    applied = kubectl(kubeconfig, "apply", "--server-side", "-f", str(servicemonitor_crd()))
    assert applied.returncode == 0, applied.stderr
    kubectl(
        kubeconfig,
        "wait",
        "--for=condition=Established",
        "crd/servicemonitors.monitoring.coreos.com",
    )


@pytest.fixture(scope="module")
def chart_crds(k8s: client.ApiClient) -> list[str]:
    """The chart's own CRDs, as its first install creates them: a dry run creates nothing, so
    the rendered objects of those kinds (KopfPeering, ClusterKopfPeering) need them there."""
    return install_chart_crds(k8s)


@pytest.mark.cluster
@pytest.mark.parametrize("values", VALUE_SETS, ids=list(VALUE_SETS))
def test_rendered_manifests_are_valid_for_the_api_server(
    helm: Helm,
    k8s: client.ApiClient,
    kubeconfig: Path,
    chart_crds: list[str],
    prometheus_crds: None,
    values: str,
) -> None:
    """Every rendered object passes the API server's own schema check (strict field
    validation: an unknown or misplaced field is an error) in a server-side dry run."""
    release_namespace = create_namespace(k8s, f"chart-{uuid.uuid4().hex[:6]}")
    objects = helm.template(
        "--namespace", release_namespace, *VALUE_SETS[values], release=f"r{values[:8]}"
    )
    created = [release_namespace]
    for namespace in sorted(
        {o["metadata"].get("namespace") for o in objects} - {None, release_namespace}
    ):
        created.append(create_namespace(k8s, namespace))
    try:
        applied = kubectl(
            kubeconfig,
            *("apply", "--dry-run=server", "--validate=strict", "--server-side", "-f", "-"),
            stdin=yaml.safe_dump_all(objects),
        )
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.count("(server dry run)") == len(objects)
    finally:
        for namespace in created:
            client.CoreV1Api(k8s).delete_namespace(namespace)


@pytest.mark.cluster
def test_job_egress_allows_the_api_server_it_looks_up(helm: Helm, k8s: client.ApiClient) -> None:
    """Rendered against a cluster, the job pods may reach the `kubernetes` Service's address
    and its endpoints on the API server ports, and nothing else in the cluster on them."""
    service = client.CoreV1Api(k8s).read_namespaced_service("kubernetes", "default")
    addresses = set(service.spec.cluster_i_ps)
    try:  # none here: the local API server runs without an endpoint reconciler
        endpoints = client.DiscoveryV1Api(k8s).read_namespaced_endpoint_slice(
            "kubernetes", "default"
        )
        addresses |= {a for e in endpoints.endpoints for a in e.addresses}
    except client.ApiException as error:
        if error.status != 404:
            raise
    [policy] = job_egress(helm.template("--dry-run=server"))
    [to_api_server] = [
        r
        for r in policy["spec"]["egress"]
        if {"port": 443, "protocol": "TCP"} in r.get("ports", [])
    ]
    assert {ipaddress.ip_network(p["ipBlock"]["cidr"]) for p in to_api_server["to"]} == {
        ipaddress.ip_network(a) for a in addresses
    }
    assert not allows(policy, "10.244.0.9", 443)


@pytest.mark.cluster
def test_helm_install_creates_every_object(
    helm: Helm, k8s: client.ApiClient, crd: Any, prometheus_crds: None
) -> None:
    namespace = create_namespace(k8s, f"chart-install-{uuid.uuid4().hex[:6]}")
    core = client.CoreV1Api(k8s)
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "supabase"}, "stringData": {"service-role-key": "k"}}
    )
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "omvee-auth"}, "stringData": {"jwt-secret": "s" * 40}}
    )
    release = "full"
    try:
        helm.install(release, namespace, *EVERYTHING, "--wait", "--timeout", "3m")
        manifest = helm.run("get", "manifest", release, "--namespace", namespace).stdout
        objects = [o for o in yaml.safe_load_all(manifest) if o]
        assert {o["kind"] for o in objects} >= {
            "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
            "ConfigMap", "Deployment", "Service", "Ingress", "PodDisruptionBudget",
            "NetworkPolicy", "ServiceMonitor", "ClusterKopfPeering",
        }  # fmt: skip
        resources = dynamic.DynamicClient(k8s).resources
        for obj in objects:
            api = resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            found = api.get(
                name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace")
            )
            assert found.metadata.labels["app.kubernetes.io/instance"] == release
        apps = client.AppsV1Api(k8s)
        for deployment in apps.list_namespaced_deployment(namespace).items:
            assert deployment.status.ready_replicas == 2, deployment.metadata.name
        status = json.loads(
            helm.run("status", release, "--namespace", namespace, "-o", "json").stdout
        )
        assert status["info"]["status"] == "deployed"
    finally:
        helm.uninstall(release, namespace)
        core.delete_namespace(namespace)
    rbac = client.RbacAuthorizationV1Api(k8s)
    assert not [
        r for r in rbac.list_cluster_role().items if r.metadata.name.startswith("full-omvee")
    ]


@pytest.mark.cluster
def test_generated_api_token_survives_upgrades(helm: Helm, k8s: client.ApiClient, crd: Any) -> None:
    namespace = create_namespace(k8s, f"chart-token-{uuid.uuid4().hex[:6]}")
    core = client.CoreV1Api(k8s)

    def token() -> list[str]:
        secret = core.read_namespaced_secret("tok-omvee-api-auth", namespace)
        tokens: list[str] = json.loads(base64.b64decode(secret.data["service-tokens"]))
        return tokens

    try:
        helm.install("tok", namespace)
        first = token()
        assert len(first) == 1 and len(first[0]) == 48
        helm.run(
            "upgrade",
            "tok",
            str(CHART),
            "--namespace",
            namespace,
            "--reuse-values",
            "--set",
            "operator.replicas=1",
        )
        assert token() == first
    finally:
        helm.uninstall("tok", namespace)
        core.delete_namespace(namespace)


def container_env(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def deployments_of(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"].rsplit("-", 1)[-1]: d for d in by_kind(objects, "Deployment")}


def test_the_results_store_reaches_the_operator_and_the_api(offline_helm: Helm) -> None:
    defaults = deployments_of(offline_helm.template())
    assert container_env(defaults["operator"])["OMVEE_RESULTS_STORE"] == "off"
    assert "OMVEE_RESULTS_STORE" not in container_env(defaults["api"])

    claim = deployments_of(
        offline_helm.template("--set", "results.store=volume", "--set", "results.claimName=rwx")
    )
    operator = container_env(claim["operator"])
    assert (operator["OMVEE_RESULTS_STORE"], operator["OMVEE_RESULTS_CLAIM"]) == ("volume", "rwx")
    api = container_env(claim["api"])
    assert (api["OMVEE_RESULTS_STORE"], api["OMVEE_RESULTS_DIR"]) == (
        "volume",
        "/var/lib/omvee/results",
    )
    pod = claim["api"]["spec"]["template"]["spec"]
    assert {"name": "results", "persistentVolumeClaim": {"claimName": "rwx", "readOnly": True}} in (
        pod["volumes"]
    )
    assert {"name": "results", "mountPath": "/var/lib/omvee/results", "readOnly": True} in (
        pod["containers"][0]["volumeMounts"]
    )

    host = deployments_of(
        offline_helm.template("--set", "results.store=volume", "--set", "results.hostPath=/srv/r")
    )
    assert container_env(host["operator"])["OMVEE_RESULTS_HOST_PATH"] == "/srv/r"
    assert {"name": "results", "hostPath": {"path": "/srv/r", "type": "Directory"}} in (
        host["api"]["spec"]["template"]["spec"]["volumes"]
    )

    supabase = deployments_of(
        offline_helm.template(
            "--set", "results.store=supabase", "--set", "results.existingSecret=res",
        )
    )  # fmt: skip
    operator = container_env(supabase["operator"])
    assert (operator["OMVEE_RESULTS_SECRET"], operator["OMVEE_RESULTS_BUCKET"]) == (
        "res",
        "job-results",
    )
    api = container_env(supabase["api"])
    assert api["OMVEE_RESULTS_STORE"] == "supabase"
    assert api["SUPABASE_SERVICE_ROLE_KEY"] == {
        "secretKeyRef": {"name": "res", "key": "SUPABASE_SERVICE_ROLE_KEY"}
    }
    # with the logs in Supabase too, the API's Supabase variables are set once
    everything = deployments_of(offline_helm.template(*EVERYTHING))["api"]
    [container] = everything["spec"]["template"]["spec"]["containers"]
    names = [e["name"] for e in container["env"]]
    assert names.count("SUPABASE_URL") == 1 and "OMVEE_RESULTS_STORE" in names


def test_allowed_networks_reach_the_api_and_the_job_pods(offline_helm: Helm) -> None:
    deployments = deployments_of(
        offline_helm.template("--set", "api.urlAllowedNetworks={10.201.0.0/24}")
    )
    assert container_env(deployments["api"])["OMVEE_API_URL_ALLOWED_NETWORKS"] == (
        '["10.201.0.0/24"]'
    )
    assert container_env(deployments["operator"])["OMVEE_URL_ALLOWED_NETWORKS"] == (
        '["10.201.0.0/24"]'
    )
    default = deployments_of(offline_helm.template())
    assert container_env(default["api"])["OMVEE_API_URL_ALLOWED_NETWORKS"] == "[]"


def test_the_apps_status_words_reach_the_operator(offline_helm: Helm) -> None:
    def operator_env(*args: str) -> dict[str, Any]:
        objects = offline_helm.template(*args)
        [operator] = [
            d for d in by_kind(objects, "Deployment") if d["metadata"]["name"].endswith("operator")
        ]
        return {
            e["name"]: e.get("value")
            for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
        }

    assert "OMVEE_MIRROR_STATUS_WORDS" not in operator_env()  # the mirror's own words
    env = operator_env(
        "--set", "mirror.statusWords.queued=pending",
        "--set", "mirror.statusWords.succeeded=completed",
    )  # fmt: skip
    words = json.loads(env["OMVEE_MIRROR_STATUS_WORDS"])
    assert words == {"queued": "pending", "succeeded": "completed"}
    assert StatusWords.from_mapping(words).final() == ["completed", "failed", "cancelled"]
