"""``make up`` / ``make down``: the local development stack in the background.

The local control plane with its real node, PostgreSQL (database `omvee` with the mirror's
`jobs` table), the OmveeJob CRD, the operator (mirroring into `omvee`) and the REST API
(development mode), both as local processes as they run out-of-cluster, a media server for the
pods, and a sample that does real work: espeak-ng speech transcribed by faster-whisper in the
built job image on the real node, then the scenes of that transcript, both submitted through the
API. Without the real node (OMVEE_REAL_NODE=0) the sample is a transcription kwok plays.

Run: ``python -m tests.devstack up|down``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, utils

from tests import factories
from tests.crds import install_crd
from tests.kwokplacement import kwok_profiles
from tests.local_service import saved_logs_env
from tests.localcluster.binaries import BuildError
from tests.localcluster.cluster import ClusterError, LocalCluster, NodeInfo
from tests.localcluster.images import ImageBuildError
from tests.localcluster.layout import REPO_ROOT, Ports, state_root
from tests.localcluster.nodehost import NodeError
from tests.localcluster.processes import ProcessError, ProcessTable
from tests.localpostgres import LocalPostgres, PostgresError
from tests.media import speak
from tests.realstack import api_env, load_images, operator_env, results_volume
from tests.waiting import WaitTimeout, wait_for

NAMESPACE = "omvee"
SAMPLE_PROJECT_ID = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"
SAMPLE_JOB_ID = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"
RBAC = REPO_ROOT / "charts/omvee/examples/job-runner-rbac.yaml"


def stack_processes() -> ProcessTable:
    return ProcessTable(state_root() / "stack")


def operator_port() -> int:
    return Ports.from_env().base + 83


def media_port() -> int:
    return Ports.from_env().base + 71


def media_dir() -> Path:
    return state_root() / "media"


# The sample's speech (espeak-ng), and what a transcript of it should read.
SAMPLE_SPEECH = (
    "Welcome to the OMVEE job runner. This sentence was spoken by a machine, "
    "sent through the REST API, and transcribed on a real Kubernetes node."
)


def _ignore_conflict(call: Any) -> None:
    """Run a create; "already exists" is fine, since `make up` may run twice."""
    try:
        call()
    except client.ApiException as error:
        if error.status != 409:
            raise
    except utils.FailToCreateError as error:
        if any(e.status != 409 for e in error.api_exceptions):
            raise


def prepare_namespace(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    _ignore_conflict(lambda: core.create_namespace({"metadata": {"name": NAMESPACE}}))
    for document in yaml.safe_load_all(RBAC.read_text()):
        _ignore_conflict(lambda d=document: utils.create_from_dict(api, d, namespace=NAMESPACE))


def prepare_mirror_db(postgres: LocalPostgres) -> str:
    """The `omvee` database with the jobs table, as Supabase would hold it."""
    import psycopg

    from controller.mirror import migrate

    with psycopg.connect(postgres.url, autocommit=True) as admin:
        if not admin.execute("select 1 from pg_database where datname = 'omvee'").fetchone():
            admin.execute("create database omvee")
    dsn = postgres.url.rsplit("/", 1)[0] + "/omvee"
    migrate.apply(dsn, local=True)
    return dsn


def _start_service(name: str, port: int, env: dict[str, str], module: str) -> None:
    table = stack_processes()
    if table.alive(name):
        return
    table.start(
        name,
        [sys.executable, "-m", module],
        env={**os.environ, **saved_logs_env(), **env},
        cwd=REPO_ROOT,
    )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return int(r.status) == 200
        except OSError:
            return False

    wait_for(healthy, f"the {name}'s /healthz", 60, lambda: table.check_running(name))


def _node(cluster: LocalCluster) -> NodeInfo | None:
    return cluster.node


def start_operator(cluster: LocalCluster) -> None:
    """The operator; with the real node, with the local job catalog, the results volume and the
    media server's address allowed for job pods."""
    mirror_dsn = prepare_mirror_db(LocalPostgres.default())
    node = _node(cluster)
    _start_service(
        "operator",
        operator_port(),
        {
            "KUBECONFIG": str(cluster.layout.kubeconfig),
            "OMVEE_HEALTH_PORT": str(operator_port()),
            "OMVEE_MIRROR_DSN": mirror_dsn,
            **(
                operator_env(node, results_volume())
                if node
                else {"OMVEE_PROFILES": str(kwok_profiles())}
            ),
        },
        "controller",
    )


def start_api(cluster: LocalCluster) -> str:
    """The REST API in development mode: no token needed, on 127.0.0.1 only. Media on the real
    node's address (the media server) is allowed, and result links read the results volume.
    The API resolves no name, so the README's examples are accepted on a machine without DNS."""
    port = Ports.from_env().base
    node = _node(cluster)
    _start_service(
        "api",
        port,
        {
            "KUBECONFIG": str(cluster.layout.kubeconfig),
            "OMVEE_API_ENVIRONMENT": "development",
            "OMVEE_API_NAMESPACE": NAMESPACE,
            "OMVEE_API_HOST": "127.0.0.1",
            "OMVEE_API_PORT": str(port),
            "OMVEE_API_POD_ANNOTATION_PREFIXES": '["kwok.omvee.io/"]',
            **(api_env(node, results_volume()) if node else {}),
        },
        "api.rest",
    )
    return f"http://127.0.0.1:{port}"


def start_media_server(node: NodeInfo) -> str:
    """A file server for media_dir() on the real node's address, which pods reach; returns its
    URL. The sample's speech is made with espeak-ng."""
    folder = media_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "sample.wav").exists():
        speak(SAMPLE_SPEECH, folder / "sample.wav")
    url = f"http://{node.ip}:{media_port()}"
    table = stack_processes()
    if not table.alive("media"):
        table.start(
            "media",
            [
                sys.executable,
                "-m",
                "http.server",
                "--bind",
                node.ip,
                "--directory",
                str(folder),
                str(media_port()),
            ],
        )

    def serving() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/sample.wav", timeout=2) as response:
                return int(response.status) == 200
        except OSError:
            return False

    wait_for(serving, f"the media server {url}", 30, lambda: table.check_running("media"))
    return url


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def submit_sample(api_url: str, audio_url: str | None) -> str:
    """A transcription through the REST API, as OMVEE's backend submits one: of the media
    server's speech on the real node, or (no real node) one kwok plays for 30 s."""
    body: dict[str, Any] = {"language": "en", "job_id": SAMPLE_JOB_ID}
    if audio_url:
        body["audio_url"] = audio_url
    else:
        body["audio_url"] = "https://media.example.com/episode-1.mp3"
        body["pod_annotations"] = factories.pod_annotations(run_duration="30s")
    answer = _post(f"{api_url}/v1/projects/{SAMPLE_PROJECT_ID}/transcriptions", body)
    return str(answer["status_url"])


def follow_job(status_url: str, what: str, timeout: float = 900) -> dict[str, Any]:
    """Wait for the job to end, printing its progress as it changes; returns the final job."""
    seen: dict[str, Any] = {}
    last = ""

    def final() -> bool:
        nonlocal last
        seen.clear()
        seen.update(_get(status_url))
        line = f"[{what}] {seen.get('phase') or 'Pending'} {seen.get('progress', 0)}%"
        if seen.get("progress_message"):
            line += f" {seen['progress_message']}"
        if line != last:
            print(line, file=sys.stderr)
            last = line
        return seen.get("phase") in ("Succeeded", "Failed", "Cancelled")

    wait_for(final, f"the sample {what}", timeout)
    return dict(seen)


def run_sample(api_url: str, node: NodeInfo) -> list[str]:
    """The sample on the real node: transcribe the speech, then make scenes of the transcript.
    Returns the lines to print."""
    media_url = start_media_server(node)
    started = time.monotonic()
    status_url = submit_sample(api_url, f"{media_url}/sample.wav")
    job = follow_job(status_url, "transcription")
    seconds = time.monotonic() - started
    if job.get("phase") != "Succeeded":
        raise StackError(f"the sample transcription ended {job.get('phase')}: {job.get('message')}")
    links = {name: f"{api_url}{path}" for name, path in (job.get("result_links") or {}).items()}
    transcript = _get(links["transcript.json"])
    text = " ".join(segment["text"] for segment in transcript["segments"])
    scenes_url = str(
        _post(
            f"{api_url}/v1/projects/{SAMPLE_PROJECT_ID}/scenes",
            {"transcript_job_id": SAMPLE_JOB_ID},
        )["status_url"]
    )
    scenes = follow_job(scenes_url, "scene-generation")
    if scenes.get("phase") != "Succeeded":
        raise StackError(f"the sample scenes ended {scenes.get('phase')}: {scenes.get('message')}")
    scene_links = [f"{api_url}{path}" for path in (scenes.get("result_links") or {}).values()]
    return [
        f"  sample job       {status_url}",
        f"                   transcribed on {node.name} in {seconds:.0f} s from submission:",
        f'                   "{text}"',
        f"  transcript       curl {links['transcript.json']}",
        f"                   or: .venv/bin/omvee jobs result --api {api_url} {SAMPLE_JOB_ID}",
        f"  scenes           {scenes_url}",
        f"                   (scenes: {scenes['result'].get('scenes')};"
        f" curl {scene_links[0] if scene_links else ''})",
        f"  media            {media_url}/  (files in {media_dir()}; pods reach this address)",
    ]


class StackError(RuntimeError):
    """The sample did not do its work; the message says how it ended."""


def up() -> None:
    cluster, postgres = LocalCluster.default(), LocalPostgres.default()
    cluster.up()
    postgres.up()
    api = config.new_client_from_config(str(cluster.layout.kubeconfig))
    install_crd(api)
    prepare_namespace(api)
    node = _node(cluster)
    if node is not None:
        print(
            "[up] building (or reusing) the job images and loading them into the node",
            file=sys.stderr,
        )
        load_images(cluster)
    start_operator(cluster)
    api_url = start_api(cluster)
    if node is not None:
        sample = run_sample(api_url, node)
        where = f"real node {node.name} ({node.ip}); kwok plays the fake CPU and GPU pools"
    else:
        status_url = submit_sample(api_url, None)
        sample = [
            f"  sample job       {status_url}",
            "                   (OMVEE_REAL_NODE=0: kwok plays this transcription for 30 s)",
        ]
        where = "kwok only (OMVEE_REAL_NODE=0): no job does real work"
    kubeconfig = cluster.layout.kubeconfig
    table = stack_processes()
    sample_lines = "\n".join(sample)
    print(f"""
OMVEE local stack is up.
  Kubernetes API   {cluster.server}
  kubeconfig       {kubeconfig}
  PostgreSQL       {postgres.url}
                   (data in {postgres.place})
  state            {state_root()}  (kubeconfigs, keys, logs)
  jobs table       psql {postgres.url.rsplit("/", 1)[0]}/omvee -c 'table jobs'
  REST API         {api_url}  (docs: {api_url}/docs; log: {table.log("api")})
  dashboard        {api_url}/dashboard
  operator health  http://127.0.0.1:{operator_port()}/healthz  (log: {table.log("operator")})
  metrics          http://127.0.0.1:{operator_port()}/metrics  {api_url}/metrics
  nodes            {where}
{sample_lines}

  export KUBECONFIG={kubeconfig}
  kubectl -n {NAMESPACE} get ojob -w

Stop everything with: make down""")


def down() -> None:
    for name in ("api", "operator", "media"):
        stopped = stack_processes().stop(name)
        print(f"[{name}] {'stopped' if stopped else 'was not running'}", file=sys.stderr)
    LocalCluster.default().down()
    stopped = LocalPostgres.default().down()
    print(f"[postgres] {'stopped' if stopped else 'was not running'}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.devstack")
    parser.add_argument("command", choices=["up", "down"])
    args = parser.parse_args(argv)
    try:
        up() if args.command == "up" else down()
    except (
        BuildError,
        ClusterError,
        ImageBuildError,
        NodeError,
        ProcessError,
        PostgresError,
        StackError,
        WaitTimeout,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
