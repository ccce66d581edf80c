"""Real work on the real node: REST API -> OmveeJob -> Job -> a real pod running the built job
image -> faster-whisper -> status.result, the results store and the `jobs` row.

The session's cluster-wide operator (kwok profiles) is paused for this module; an operator with
the local profiles (charts/omvee/examples/profiles-local.yaml: every type on the real node), a
results volume and the media server's address allowed runs in its place, as the chart's
operator ServiceAccount, mirroring into the session's database. The media server listens on the
real node's address, which pods reach; the default URL policy refuses it, so the API and the job
pods get it through OMVEE_URL_ALLOWED_NETWORKS, as `make up` does.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from kubernetes import client, watch
from kubernetes.stream import stream

from api.v1alpha1 import constants
from tests.api_process import SERVICE_TOKEN
from tests.helm import Release
from tests.localcluster.binaries import real_node_enabled
from tests.localcluster.cluster import LocalCluster
from tests.media import PARAGRAPH, serving, speak, word_error_rate
from tests.operator_process import OperatorProcess
from tests.realstack import RealStack, start_real_stack, stop_real_stack
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.skipif(
        not real_node_enabled(), reason="OMVEE_REAL_NODE=0: the cluster runs without its real node"
    ),
    pytest.mark.cluster,
    pytest.mark.postgres,
    pytest.mark.media,
    pytest.mark.realnode,
]

PROJECT = "3c8f1d2e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"


@dataclass
class Media:
    url: str
    folder: Path
    requests: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def real_stack(
    local_cluster: LocalCluster,
    operator: OperatorProcess,
    chart_release: Release,
    api_namespace: str,
    operator_mirror_dsn: str,
) -> Iterator[RealStack]:
    operator.stop()  # the session's cluster-wide operator would act in this namespace too
    stack = start_real_stack(
        local_cluster,
        namespace=api_namespace,
        operator_kubeconfig=chart_release.operator_kubeconfig,
        api_kubeconfig=chart_release.api_kubeconfig,
        mirror_dsn=operator_mirror_dsn,
    )
    try:
        yield stack
    finally:
        stop_real_stack(stack)
        operator.start()


@pytest.fixture(scope="module")
def media(real_stack: RealStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Media]:
    folder = tmp_path_factory.mktemp("media")
    speak(PARAGRAPH, folder / "speech.wav")
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.txt").write_text("This is a text file, not audio.\n" * 20)
    with serving(folder, real_stack.node_ip) as (url, requests):
        yield Media(url, folder, requests)


@pytest.fixture
def http(real_stack: RealStack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=real_stack.api.url,
        timeout=30,
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
    ) as session:
        yield session


def submit_transcription(http: httpx.Client, audio_url: str, **extra: Any) -> str:
    response = http.post(
        f"/v1/projects/{PROJECT}/transcriptions",
        json={"audio_url": audio_url, "language": "en", **extra},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def follow(http: httpx.Client, job_id: str, seen: list[dict[str, Any]]) -> None:
    """Collect every status event of the job's SSE stream until it ends."""
    with http.stream("GET", f"/v1/jobs/{job_id}/events", params={"timeout": 600}) as events:
        event = ""
        for line in events.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "status":
                seen.append(json.loads(line.removeprefix("data: ")))
            elif event == "end":
                return


def wait_final(http: httpx.Client, job_id: str, timeout: float = 300) -> dict[str, Any]:
    final: dict[str, Any] = {}

    def done() -> bool:
        job = http.get(f"/v1/jobs/{job_id}").json()
        final.update(job)
        return job.get("phase") in ("Succeeded", "Failed", "Cancelled")

    wait_for(done, f"job {job_id} to finish", timeout)
    return final


def job_pods(core: client.CoreV1Api, namespace: str, job_id: str) -> list[client.V1Pod]:
    return list(
        core.list_namespaced_pod(
            namespace, label_selector=f"{constants.LABEL_JOB_ID}={job_id}"
        ).items
    )


def row(dsn: str, job_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(dsn) as connection:
        return connection.execute(
            "select status, progress, result from jobs where id = %s", (job_id,)
        ).fetchone()


def transcript_text(http: httpx.Client, job: dict[str, Any]) -> str:
    link = job["result_links"]["transcript.json"]
    response = http.get(link)
    assert response.status_code == 200, response.text
    return " ".join(segment["text"] for segment in response.json()["segments"])


def test_a_transcription_runs_for_real_through_the_whole_system(
    real_stack: RealStack,
    media: Media,
    http: httpx.Client,
    core: client.CoreV1Api,
    operator_mirror_dsn: str,
) -> None:
    job_id = submit_transcription(http, f"{media.url}/speech.wav")
    seen: list[dict[str, Any]] = []
    follower = threading.Thread(target=follow, args=(http, job_id, seen), daemon=True)
    follower.start()
    job = wait_final(http, job_id)
    follower.join(30)

    assert job["phase"] == "Succeeded", job
    assert job["attempts"] == 1
    (pod,) = job_pods(core, real_stack.namespace, job_id)
    assert pod.spec.node_name == real_stack.node_name
    text = transcript_text(http, job)
    assert word_error_rate(PARAGRAPH, text) <= 0.3, text
    assert job["result"]["language"] == "en"

    progress = [event["progress"] for event in seen]
    rising = sorted({p for p in progress if 0 < p < 100})
    assert len(rising) >= 2, progress
    assert progress == sorted(progress) and progress[-1] == 100

    def mirrored() -> bool:
        stored = row(operator_mirror_dsn, job_id)
        return stored is not None and stored[0] == "succeeded"

    wait_for(mirrored, "the jobs row to be final", 30)
    status, stored_progress, result = row(operator_mirror_dsn, job_id) or ()
    assert (status, stored_progress, result) == ("succeeded", 100, job["result"])

    # the next job takes the real transcript through the results store
    response = http.post(f"/v1/projects/{PROJECT}/scenes", json={"transcript_job_id": job_id})
    assert response.status_code == 202, response.text
    scenes = wait_final(http, response.json()["id"])
    assert scenes["phase"] == "Succeeded", scenes
    assert scenes["result"]["scenes"] >= 1
    scene_file = http.get(scenes["result_links"]["scenes.json"])
    assert scene_file.status_code == 200
    words = " ".join(scene["text"] for scene in scene_file.json()["scenes"])
    assert word_error_rate(text, words) == 0.0


@pytest.mark.parametrize(
    ("file", "says"),
    [("empty.wav", "the file is empty (0 bytes)"), ("notes.txt", "not audio that can be decoded")],
    ids=["empty", "text"],
)
def test_bad_media_fails_after_exactly_one_real_pod(
    real_stack: RealStack,
    media: Media,
    http: httpx.Client,
    core: client.CoreV1Api,
    file: str,
    says: str,
) -> None:
    job_id = submit_transcription(http, f"{media.url}/{file}")
    job = wait_final(http, job_id)
    assert (job["phase"], job["reason"], job["attempts"]) == ("Failed", "PermanentFailure", 1)
    (pod,) = job_pods(core, real_stack.namespace, job_id)
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 65
    # the container's own reason, quoted in the status
    assert "exit code 65: permanent failure:" in job["message"], job["message"]
    assert says in job["message"].split("exit code 65:", 1)[1], job["message"]


def test_a_retryable_input_failure_succeeds_on_the_second_real_attempt(
    real_stack: RealStack, media: Media, http: httpx.Client, core: client.CoreV1Api
) -> None:
    name = f"flaky-{uuid.uuid4().hex[:6]}.wav"
    (media.folder / name).write_bytes((media.folder / "speech.wav").read_bytes())
    job_id = submit_transcription(http, f"{media.url}/flaky/{name}")
    job = wait_final(http, job_id, timeout=400)
    assert (job["phase"], job["attempts"]) == ("Succeeded", 2), job
    assert media.requests[f"/flaky/{name}"] == 2
    exits = sorted(
        pod.status.container_statuses[0].state.terminated.exit_code
        for pod in job_pods(core, real_stack.namespace, job_id)
    )
    assert exits == [0, 75]


def exec_in(core: client.CoreV1Api, pod: client.V1Pod, *command: str) -> str:
    return str(
        stream(
            core.connect_get_namespaced_pod_exec,
            pod.metadata.name,
            pod.metadata.namespace,
            container=constants.CONTAINER_NAME,
            command=list(command),
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
    )


PROBE = """
import os, sys
from kubernetes import client, config
config.load_incluster_config()
print("uid", os.getuid(), "gid", os.getgid())
try:
    open("/probe", "w")
    print("root writable")
except OSError as error:
    print("root", error.strerror)
core = client.CoreV1Api()
try:
    core.list_namespaced_secret(sys.argv[1])
    print("secrets listed")
except client.ApiException as error:
    print("secrets", error.status)
try:
    core.list_namespaced_pod(sys.argv[1])
    print("pods listed")
except client.ApiException as error:
    print("pods", error.status)
"""


def exit_codes(core: client.CoreV1Api, namespace: str, job_id: str, codes: list[int]) -> None:
    """Record the job container's exit code of each pod as the kubelet reports it (a
    cancelled pod is gone soon after)."""
    events = watch.Watch().stream(
        core.list_namespaced_pod,
        namespace,
        label_selector=f"{constants.LABEL_JOB_ID}={job_id}",
        timeout_seconds=180,
    )
    for event in events:
        for status in event["object"].status.container_statuses or []:
            if status.state.terminated is not None:
                codes.append(status.state.terminated.exit_code)
                return


def test_cancel_stops_a_running_real_pod_with_sigterm(
    real_stack: RealStack, media: Media, http: httpx.Client, core: client.CoreV1Api
) -> None:
    job_id = submit_transcription(http, f"{media.url}/trickle/speech.wav")
    codes: list[int] = []
    watcher = threading.Thread(
        target=exit_codes, args=(core, real_stack.namespace, job_id, codes), daemon=True
    )
    watcher.start()
    wait_for(lambda: "/trickle/speech.wav" in media.requests, "the pod to start downloading", 120)
    (pod,) = job_pods(core, real_stack.namespace, job_id)
    assert pod.spec.node_name == real_stack.node_name

    # what the container really is, checked from inside it
    probe = exec_in(core, pod, "python", "-c", PROBE, real_stack.namespace)
    assert "uid 10001 gid 10001" in probe, probe
    assert "root Read-only file system" in probe, probe
    assert "secrets 403" in probe and "pods 403" in probe, probe

    live = core.read_namespaced_pod_log(
        pod.metadata.name, real_stack.namespace, container=constants.CONTAINER_NAME
    )
    last_line = live.strip().splitlines()[-1]
    response = http.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code in (200, 202), response.text
    job = wait_final(http, job_id, timeout=120)
    assert job["phase"] == "Cancelled", job
    watcher.join(60)
    assert codes == [75], codes

    logs = http.get(f"/v1/jobs/{job_id}/logs")
    assert logs.status_code == 200, logs.text
    # saved before the Job went: the container's last lines up to the cancel
    assert last_line in logs.text, (last_line, logs.text)
