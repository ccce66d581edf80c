"""Pure: what the real node (containerd + runc + kubelet + kube-proxy) is made of, as data.

Nothing here runs a process or touches the host: the settings of one cluster's real node, the
config files and command lines of its daemons, and the plan that undoes the host-wide changes
`up` made, from a record of the host taken before `up` and a look at the host now. The code that
acts on these lives in ``tests/localcluster/nodehost.py``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.localcluster.layout import Ports

NODE_NAME = "omvee-local"
POOL_LABEL = "omvee.io/pool"
POOL = "local"
# Pods of the real node get addresses from POD_SUBNET; kube-proxy treats POD_CIDR as the cluster.
# Neither collides with the service CIDR 10.96.0.0/16. One real node per machine, so fixed.
POD_CIDR = "10.244.0.0/16"
POD_SUBNET = "10.244.0.0/24"
CNI_BIN_DIR = "/usr/lib/cni"
PAUSE_IMAGE = "omvee.local/pause:3.10"
# Where the node's address lives: a /32 on `lo` (no kernel modules here for a dummy link).
NODE_IP_NET = "100.77"
# Host paths the kubelet and containerd write whatever their own settings say.
VAR_LOG_CONTAINERS = Path("/var/log/containers")
DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")
VAR_LIB_KUBELET = Path("/var/lib/kubelet")
VAR_LIB_CNI = Path("/var/lib/cni")
NETNS_DIR = Path("/var/run/netns")
RUN_CONTAINERD = Path("/run/containerd")
# Host-wide claim: which cluster's real node runs on this machine.
CLAIM_FILE = Path("/run/omvee-real-node.json")
SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet")
CHAIN_PREFIXES = ("KUBE-", "CNI-")


def node_ip_for(base: int) -> str:
    """A node address unique to the cluster on port base ``base`` (1..65535), in 100.77.0.0/16
    (carrier-grade NAT space, unused on these machines), never a .0 or .255 host part."""
    if not 0 < base < 65536:
        raise ValueError(f"port base {base} is not a port")
    return f"{NODE_IP_NET}.{base // 254 % 256}.{base % 254 + 1}"


@dataclass(frozen=True)
class NodeSettings:
    """The real node of the cluster whose state lives in ``root`` and listens on ``ports``."""

    root: Path  # <cluster>/node
    ports: Ports
    pki: Path
    name: str = NODE_NAME
    pod_cidr: str = POD_CIDR
    pod_subnet: str = POD_SUBNET

    @classmethod
    def for_cluster(cls, cluster_root: Path, ports: Ports) -> NodeSettings:
        return cls(cluster_root / "node", ports, cluster_root / "pki")

    @property
    def node_ip(self) -> str:
        return node_ip_for(self.ports.base)

    @property
    def bridge(self) -> str:
        """The CNI bridge, named after the port base (at most 15 characters)."""
        return f"omvee{self.ports.base}"

    @property
    def network(self) -> str:
        """The CNI network's name (also the /var/lib/cni cache prefix)."""
        return f"omvee-{self.ports.base}"

    @property
    def labels(self) -> dict[str, str]:
        return {POOL_LABEL: POOL, "type": "real"}

    # -- ports (offsets clear of the control plane's and the tests' services) ------------------
    @property
    def kubelet_port(self) -> int:
        return self.ports.base + 61

    @property
    def kubelet_healthz_port(self) -> int:
        return self.ports.base + 62

    @property
    def kube_proxy_healthz_port(self) -> int:
        return self.ports.base + 63

    @property
    def kube_proxy_metrics_port(self) -> int:
        return self.ports.base + 64

    # -- paths ---------------------------------------------------------------------------------
    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd-state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def runc_root(self) -> Path:
        return self.root / "runc"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni"

    @property
    def cni_data_dir(self) -> Path:
        return self.root / "cni-ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"

    @property
    def host_record(self) -> Path:
        """What the host looked like before `up` (kept beside, not inside, what `down` removes
        first)."""
        return self.root.parent / "host-before.json"

    @property
    def crictl_config(self) -> Path:
        return self.root / "crictl.yaml"

    def kubeconfig(self, stem: str) -> Path:
        return self.root.parent / f"{stem}.kubeconfig"


def _toml(value: str | bool | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def render_containerd_config(node: NodeSettings, sandbox_image: str = PAUSE_IMAGE) -> str:
    """containerd 1.6's config (version 2): everything under the node's state, CRI with
    ``restrict_oom_score_adj`` (these VMs cannot set negative oom_score_adj), cgroupfs, runc
    with its own root, the CNI bridge network of ``render_cni_conflist``."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    runc = f"{cri}.containerd.runtimes.runc"
    lines = [
        "version = 2",
        f"root = {_toml(str(node.containerd_root))}",
        f"state = {_toml(str(node.containerd_state))}",
        "",
        "[grpc]",
        f"  address = {_toml(str(node.containerd_socket))}",
        "",
        "[ttrpc]",
        f"  address = {_toml(str(node.containerd_socket) + '.ttrpc')}",
        "",
        '[plugins."io.containerd.internal.v1.opt"]',
        f"  path = {_toml(str(node.root / 'opt'))}",
        "",
        f"[{cri}]",
        f"  sandbox_image = {_toml(sandbox_image)}",
        f"  restrict_oom_score_adj = {_toml(True)}",
        f"  stream_server_address = {_toml('127.0.0.1')}",
        f"  stream_server_port = {_toml('0')}",
        f"  enable_selinux = {_toml(False)}",
        "",
        f"[{cri}.containerd]",
        f"  snapshotter = {_toml('overlayfs')}",
        f"  default_runtime_name = {_toml('runc')}",
        "",
        f"[{runc}]",
        f"  runtime_type = {_toml('io.containerd.runc.v2')}",
        "",
        f"[{runc}.options]",
        f"  SystemdCgroup = {_toml(False)}",
        f"  Root = {_toml(str(node.runc_root))}",
        "",
        f"[{cri}.cni]",
        f"  bin_dir = {_toml(CNI_BIN_DIR)}",
        f"  conf_dir = {_toml(str(node.cni_conf_dir))}",
        f"  max_conf_num = {_toml(1)}",
        "",
    ]
    return "\n".join(lines)


def render_cni_conflist(node: NodeSettings) -> dict[str, Any]:
    """bridge (own bridge name, gateway, masquerade) + host-local (own data dir) + portmap."""
    return {
        "cniVersion": "0.4.0",
        "name": node.network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": node.bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node.cni_data_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def render_kubelet_config(node: NodeSettings) -> dict[str, Any]:
    """KubeletConfiguration: cgroupfs, no swap check, cgroup v1 allowed, oomScoreAdj 0 (no
    CAP_SYS_RESOURCE), no iptables util chains, own ports and dirs. The kubelet API authenticates
    clients by certificate (the apiserver's kubelet-client one) and asks the apiserver (webhook)
    whether they may; anonymous access is off."""
    pki = node.pki
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.node_ip,
        "port": node.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": node.kubelet_healthz_port,
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "failCgroupV1": False,
        "oomScoreAdj": 0,
        "makeIPTablesUtilChains": False,
        "podLogsDir": str(node.pod_logs),
        "volumePluginDir": str(node.root / "volume-plugins"),
        "clusterDomain": "cluster.local",
        "resolvConf": "/etc/resolv.conf",
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "serializeImagePulls": False,
        # Images are imported, never pulled: the kubelet must not collect them for disk space.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%"},
        "registerNode": True,
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
    }


def render_kube_proxy_config(node: NodeSettings) -> dict[str, Any]:
    """KubeProxyConfiguration: iptables mode, no conntrack sysctl changes (0 = leave alone), no
    route_localnet (localhostNodePorts off), node ports only on the node address."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(node.kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "clusterCIDR": node.pod_cidr,
        "hostnameOverride": node.name,
        "bindAddress": node.node_ip,
        "healthzBindAddress": f"127.0.0.1:{node.kube_proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{node.kube_proxy_metrics_port}",
        "nodePortAddresses": [f"{node.node_ip}/32"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
    }


def render_crictl_config(node: NodeSettings) -> str:
    endpoint = f"unix://{node.containerd_socket}"
    return yaml.safe_dump(
        {"runtime-endpoint": endpoint, "image-endpoint": endpoint, "timeout": 30}, sort_keys=False
    )


def containerd_command(binary: str, node: NodeSettings) -> list[str]:
    return [binary, f"--config={node.containerd_config}", "--log-level=warn"]


def kubelet_command(binary: str, node: NodeSettings) -> list[str]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(node.labels.items()))
    return [
        binary,
        f"--config={node.kubelet_config}",
        f"--kubeconfig={node.kubeconfig('kubelet')}",
        f"--root-dir={node.kubelet_root}",
        f"--cert-dir={node.root / 'kubelet-certs'}",
        f"--node-ip={node.node_ip}",
        f"--hostname-override={node.name}",
        f"--node-labels={labels}",
        "--v=1",
    ]


def kube_proxy_command(binary: str, node: NodeSettings) -> list[str]:
    return [binary, f"--config={node.kube_proxy_config}", "--v=1"]


def kube_proxy_cleanup_command(binary: str) -> list[str]:
    return [binary, "--cleanup", "--v=0"]


def apiserver_node_flags(node: NodeSettings) -> list[str]:
    """What the apiserver needs for the real node: reachable from pods (all addresses, the node
    address advertised so the `kubernetes` Service gets it as endpoint), the kubelet's address
    type, and the client certificate it shows the kubelet."""
    pki = node.pki
    return [
        "--bind-address=0.0.0.0",
        f"--advertise-address={node.node_ip}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
    ]


def with_real_node(apiserver_argv: list[str], node: NodeSettings) -> list[str]:
    """The apiserver's command line with the kwok-only binding and endpoint settings replaced
    by ``apiserver_node_flags``."""
    replaced = ("--bind-address=", "--advertise-address=", "--endpoint-reconciler-type=")
    kept = [arg for arg in apiserver_argv if not arg.startswith(replaced)]
    return [*kept, *apiserver_node_flags(node)]


# -- the host before `up`, and what `down` does about it ----------------------------------------


@dataclass
class HostRecord:
    """The host-wide state `up` may change, as it was before: restored or removed on `down`."""

    state_dir: str
    sysctls: dict[str, str] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)  # "iptables/nat" -> chains
    netns: list[str] = field(default_factory=list)
    existed: dict[str, bool] = field(default_factory=dict)  # host path -> existed
    var_log_containers: list[str] = field(default_factory=list)
    lo_addresses: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HostRecord:
        return cls(**json.loads(text))


TRACKED_PATHS = (
    VAR_LOG_CONTAINERS,
    VAR_LIB_KUBELET,
    DEVICE_PLUGINS,
    VAR_LIB_CNI,
    NETNS_DIR,
    RUN_CONTAINERD,
    Path("/sys/fs/cgroup/cpu/kubepods"),
)


def chains_of(save_text: str) -> dict[str, list[str]]:
    """Chains by table from ``iptables-save`` output: ``{"nat": ["KUBE-SERVICES", ...]}``."""
    chains: dict[str, list[str]] = {}
    table = ""
    for line in save_text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            chains.setdefault(table, [])
        elif line.startswith(":") and table:
            chains[table].append(line[1:].split()[0])
    return chains


@dataclass(frozen=True)
class IptablesStep:
    """One iptables invocation of the undo: ``argv`` after the binary (``iptables`` or
    ``ip6tables``)."""

    family: str
    argv: tuple[str, ...]


def plan_iptables_undo(
    family: str, before: Mapping[str, Iterable[str]], save_text: str, network: str
) -> list[IptablesStep]:
    """Remove what the node's daemons added to one family's tables: every rule that jumps to a
    chain absent before `up` and named KUBE-*/CNI-*, or whose comment names our CNI network;
    then flush and delete those chains. Chains and rules that existed before stay."""
    steps: list[IptablesStep] = []
    ours: dict[str, set[str]] = {}
    table = ""
    rules: list[tuple[str, str]] = []
    for line in save_text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":") and table:
            chain = line[1:].split()[0]
            if chain.startswith(CHAIN_PREFIXES) and chain not in set(before.get(table, ())):
                ours.setdefault(table, set()).add(chain)
        elif line.startswith("-A ") and table:
            rules.append((table, line))
    for table, line in rules:
        words = shlex.split(line)
        chain = words[1]
        target = words[words.index("-j") + 1] if "-j" in words else ""
        mentions_network = f'name: "{network}"' in line or f"name: {network} " in line
        if chain in ours.get(table, set()):
            continue  # goes with its chain's flush
        if target in ours.get(table, set()) or mentions_network:
            steps.append(IptablesStep(family, ("-t", table, "-D", *words[1:])))
    for table, chains in sorted(ours.items()):
        for chain in sorted(chains):
            steps.append(IptablesStep(family, ("-t", table, "-F", chain)))
        for chain in sorted(chains):
            steps.append(IptablesStep(family, ("-t", table, "-X", chain)))
    return steps


def plan_sysctl_restores(before: Mapping[str, str], now: Mapping[str, str]) -> dict[str, str]:
    """The sysctls (``net/ipv4/ip_forward`` style keys) to write back: those that changed."""
    return {key: value for key, value in before.items() if key in now and now[key] != value}


def plan_path_removals(existed: Mapping[str, bool]) -> list[Path]:
    """Host folders `up` created (absent before), deepest first, to remove if left empty or,
    for folders only our node writes, with their contents."""
    created = [Path(path) for path, was in existed.items() if not was]
    return sorted(created, key=lambda p: len(p.parts), reverse=True)


_NETNS_CNI = re.compile(r"^cni-[0-9a-f-]+$")


def plan_netns_removals(before: Iterable[str], now: Iterable[str]) -> list[str]:
    """Network namespaces containerd created since `up` (``cni-<uuid>``)."""
    old = set(before)
    return sorted(name for name in now if name not in old and _NETNS_CNI.match(name))


def plan_log_link_removals(
    before: Iterable[str], now: Mapping[str, str], pod_logs: Path
) -> list[str]:
    """Entries of /var/log/containers to remove: new since `up`, or links into our pod logs.
    ``now`` maps each entry's name to its link target ('' when not a link)."""
    old = set(before)
    return sorted(
        name for name, target in now.items() if name not in old or target.startswith(f"{pod_logs}/")
    )


def mounts_under(mounts_text: str, root: Path) -> list[str]:
    """Mount points under ``root`` from /proc/mounts, deepest first (the order to unmount)."""
    prefix = str(root).rstrip("/")
    points = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        point = fields[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(points, key=lambda p: (p.count("/"), p), reverse=True)


def plan_table_removals(before: Mapping[str, Iterable[str]], save_text: str) -> list[str]:
    """Tables (``nat``, ...) that iptables-nft created since `up` and that hold no rule now: the
    undo deletes them (``nft delete table ip|ip6 <table>``)."""
    tables: dict[str, int] = {}
    table = ""
    for line in save_text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            tables[table] = 0
        elif line.startswith("-A ") and table:
            tables[table] += 1
    return sorted(name for name, rules in tables.items() if rules == 0 and name not in before)


def host_differences(before: HostRecord, after: HostRecord) -> list[str]:
    """What differs between two records of the host (``state_dir`` aside), one readable line per
    difference; [] when `down` put everything back."""
    differences = []
    for name in ("sysctls", "chains", "netns", "existed", "var_log_containers", "lo_addresses"):
        was, now = getattr(before, name), getattr(after, name)
        if was != now:
            differences.append(f"{name}: before {was!r}, after {now!r}")
    return differences
