"""The real node's rendering and undo plan (tests/localcluster/realnode.py)."""

from __future__ import annotations

import json
import tarfile
from io import BytesIO
from pathlib import Path

from tests.localcluster import realnode
from tests.localcluster.commands import SERVICE_CIDR, kube_apiserver
from tests.localcluster.layout import Layout, Ports
from tests.localcluster.realnode import NodeSettings
from tests.localcluster.staticimage import docker_archive

NODE = NodeSettings.for_cluster(Path("/s/cluster"), Ports(21400))


def test_node_ip_is_unique_per_port_base_and_not_network_or_broadcast() -> None:
    ips = {realnode.node_ip_for(base) for base in range(20000, 30000, 100)}
    assert len(ips) == 100
    assert all(not ip.endswith((".0", ".255")) and ip.startswith("100.77.") for ip in ips)


def test_containerd_config_keeps_everything_under_the_state_dir() -> None:
    text = realnode.render_containerd_config(NODE)
    assert "restrict_oom_score_adj = true" in text
    assert "SystemdCgroup = false" in text
    assert 'Root = "/s/cluster/node/runc"' in text
    assert 'address = "/s/cluster/node/containerd.sock"' in text
    assert 'bin_dir = "/usr/lib/cni"' in text
    assert 'conf_dir = "/s/cluster/node/cni"' in text
    assert f'sandbox_image = "{realnode.PAUSE_IMAGE}"' in text


def test_cni_conflist_uses_own_bridge_subnet_and_ipam_dir() -> None:
    conf = realnode.render_cni_conflist(NODE)
    bridge = conf["plugins"][0]
    assert bridge["bridge"] == "omvee21400" and len(bridge["bridge"]) <= 15
    assert bridge["ipam"]["dataDir"] == "/s/cluster/node/cni-ipam"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
    assert [p["type"] for p in conf["plugins"]] == ["bridge", "portmap"]
    assert not SERVICE_CIDR.startswith("10.244.")


def test_kubelet_config_has_the_settings_these_machines_need() -> None:
    config = realnode.render_kubelet_config(NODE)
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["failSwapOn"] is False and config["failCgroupV1"] is False
    assert config["oomScoreAdj"] == 0 and config["makeIPTablesUtilChains"] is False
    assert config["port"] == 21461 and config["healthzPort"] == 21462
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authorization"]["mode"] == "Webhook"
    assert config["podLogsDir"].startswith("/s/cluster/node/")


def test_kubelet_and_proxy_command_lines() -> None:
    argv = realnode.kubelet_command("/bin/kubelet", NODE)
    assert f"--node-ip={NODE.node_ip}" in argv
    assert "--root-dir=/s/cluster/node/kubelet" in argv
    assert "--node-labels=omvee.io/pool=local,type=real" in argv
    proxy = realnode.render_kube_proxy_config(NODE)
    assert proxy["mode"] == "iptables" and proxy["iptables"]["localhostNodePorts"] is False
    assert proxy["conntrack"]["maxPerCore"] == 0


def test_apiserver_advertises_the_node_ip_with_the_default_reconciler() -> None:
    base = kube_apiserver("/bin/apiserver", Layout(Path("/s/cluster")), Ports(21400))
    argv = realnode.with_real_node(base, NODE)
    assert "--bind-address=0.0.0.0" in argv
    assert f"--advertise-address={NODE.node_ip}" in argv
    assert not any(a.startswith("--endpoint-reconciler-type") for a in argv)
    assert "--kubelet-preferred-address-types=InternalIP,Hostname" in argv
    assert argv.count("--bind-address=0.0.0.0") == 1


SAVE = """*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:MINE - [0:0]
:KUBE-SERVICES - [0:0]
:CNI-abc - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -s 10.244.0.2/32 -m comment --comment "name: \\"omvee-21400\\" id: \\"x\\"" \
-j CNI-abc
-A POSTROUTING -j MINE
-A KUBE-SERVICES -j RETURN
COMMIT
"""


def test_iptables_undo_removes_only_new_chains_and_rules_naming_them() -> None:
    steps = realnode.plan_iptables_undo(
        "iptables", {"nat": ["PREROUTING", "POSTROUTING", "MINE"]}, SAVE, "omvee-21400"
    )
    argvs = [" ".join(s.argv) for s in steps]
    assert any(a.startswith("-t nat -D PREROUTING") and "KUBE-SERVICES" in a for a in argvs)
    assert any(a.startswith("-t nat -D POSTROUTING -s 10.244.0.2/32") for a in argvs)
    assert "-t nat -X KUBE-SERVICES" in argvs and "-t nat -X CNI-abc" in argvs
    assert not any("MINE" in a for a in argvs)
    assert argvs.index("-t nat -F CNI-abc") < argvs.index("-t nat -X CNI-abc")


def test_undo_plans_for_sysctls_netns_paths_logs_mounts_and_tables() -> None:
    assert realnode.plan_sysctl_restores(
        {"net/ipv4/ip_forward": "0"}, {"net/ipv4/ip_forward": "1"}
    ) == {"net/ipv4/ip_forward": "0"}
    assert realnode.plan_sysctl_restores({"a": "1"}, {"a": "1"}) == {}
    assert realnode.plan_netns_removals(["cni-1"], ["cni-1", "cni-2f-ab", "other"]) == ["cni-2f-ab"]
    assert realnode.plan_path_removals(
        {"/var/lib/kubelet": False, "/var/lib/kubelet/device-plugins": False, "/var/lib/cni": True}
    ) == [Path("/var/lib/kubelet/device-plugins"), Path("/var/lib/kubelet")]
    logs = {"old.log": "", "new.log": "/x", "ours.log": "/s/cluster/node/pod-logs/p/c/0.log"}
    assert realnode.plan_log_link_removals(["old.log", "ours.log"], logs, NODE.pod_logs) == [
        "new.log",
        "ours.log",
    ]
    mounts = (
        "tmpfs /s/cluster/node/kubelet tmpfs rw 0 0\n"
        "shm /s/cluster/node/kubelet/pods/a/shm tmpfs rw 0 0\n"
        "x /s/clusterX y z 0 0\n"
    )
    assert realnode.mounts_under(mounts, Path("/s/cluster")) == [
        "/s/cluster/node/kubelet/pods/a/shm",
        "/s/cluster/node/kubelet",
    ]
    assert realnode.plan_table_removals(
        {"filter": []}, "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*filter\nCOMMIT\n"
    ) == ["nat"]
    record = realnode.HostRecord("/s", sysctls={"a": "1"})
    assert realnode.HostRecord.from_json(record.to_json()) == record


def test_docker_archive_has_one_layer_with_the_program() -> None:
    data = docker_archive("omvee.local/x:1", b"ELF", "/x", ["/x"])
    with tarfile.open(fileobj=BytesIO(data)) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["omvee.local/x:1"]
        layer_file = archive.extractfile(manifest[0]["Layers"][0])
        with tarfile.open(fileobj=layer_file) as layer:
            assert layer.extractfile("x").read() == b"ELF"  # type: ignore[union-attr]
        config = json.load(archive.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        assert config["config"]["Entrypoint"] == ["/x"]


def test_host_differences_name_what_down_left_behind() -> None:
    from tests.localcluster.realnode import HostRecord, host_differences

    before = HostRecord("a", sysctls={"net/ipv4/ip_forward": "0"}, lo_addresses=["127.0.0.1/8"])
    same = HostRecord("b", sysctls={"net/ipv4/ip_forward": "0"}, lo_addresses=["127.0.0.1/8"])
    assert host_differences(before, same) == []
    left = HostRecord(
        "b", sysctls={"net/ipv4/ip_forward": "1"}, lo_addresses=["127.0.0.1/8", "100.77.1.2/32"]
    )
    assert [line.split(":")[0] for line in host_differences(before, left)] == [
        "sysctls",
        "lo_addresses",
    ]
