"""The transcription entrypoint as a process against the local control plane, as its pod would
run it: with the job-runner ServiceAccount's rights only, reporting progress into a real
OmveeJob's status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client, watch

from api.urlpolicy import ENV_ALLOWED_NETWORKS
from tests import factories
from tests.localcluster.layout import REPO_ROOT
from tests.media import PARAGRAPH, serve, speak, word_error_rate
from tests.omveejobs import OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.recorder import recording_server

pytestmark = [pytest.mark.cluster, pytest.mark.media]
# Long enough (about 25 s of audio) for several rate-limited progress reports.
SPEECH = PARAGRAPH


@pytest.fixture
def speech_url(tmp_path: Path) -> Iterator[str]:
    speak(SPEECH, tmp_path / "speech.wav")
    with serve(tmp_path) as url:
        yield f"{url}/speech.wav"


def as_job_runner(kubeconfig: Path, namespace: str, target: Path) -> Path:
    """A kubeconfig acting as the namespace's omvee-job-runner ServiceAccount."""
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"][0]["user"]["as"] = f"system:serviceaccount:{namespace}:omvee-job-runner"
    target.write_text(yaml.safe_dump(config))
    return target


def run_as_pod(
    module: str, ojob: dict[str, Any], name: str, namespace: str, kubeconfig: Path, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run a job entrypoint as the operator's pod would: $OMVEE_JOB for run 0 of ``name``, the
    job runner's rights, results in a local folder."""
    spec = ojob["spec"]
    document = {
        "name": name,
        "namespace": namespace,
        "run": 0,
        "type": spec["type"],
        "projectId": spec["projectId"],
        "jobId": spec["jobId"],
        "input": spec["input"],
    }
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={
            **os.environ,
            "OMVEE_JOB": json.dumps(document),
            "KUBECONFIG": str(as_job_runner(kubeconfig, namespace, tmp_path / "sa.yaml")),
            "OMVEE_RESULTS_DIR": str(tmp_path / "results"),
            # the media server's address, which the URL policy refuses: open for tests only
            ENV_ALLOWED_NETWORKS: '["127.0.0.1/32"]',
        },
    )


def test_progress_and_result_reach_the_omveejob(
    operator: OperatorProcess,
    k8s: client.ApiClient,
    job_namespace: str,
    kubeconfig: Path,
    speech_url: str,
    tmp_path: Path,
) -> None:
    ojobs = OmveeJobs(k8s, job_namespace)
    # The operator's own (fake) pod for this job stays Running while the real entrypoint works.
    body = manifest(
        "transcribe-real",
        "transcription",
        input={"audioUrl": speech_url},
        pod_annotations=factories.pod_annotations(run_duration="1h"),
    )
    ojobs.create(body)
    ojobs.wait_status("transcribe-real", "Running", lambda s: s.get("phase") == "Running")

    seen: list[int] = []
    stop = threading.Event()

    def follow() -> None:
        stream = watch.Watch().stream(
            ojobs.custom.list_namespaced_custom_object,
            "omvee.io",
            "v1alpha1",
            job_namespace,
            "omveejobs",
            field_selector="metadata.name=transcribe-real",
            timeout_seconds=120,
        )
        for event in stream:
            progress = (event["object"].get("status") or {}).get("progress")
            if progress is not None and (not seen or seen[-1] != progress):
                seen.append(progress)
            if stop.is_set() or progress == 100:
                return

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    result = run_as_pod(
        "jobimages.transcription", body, "transcribe-real", job_namespace, kubeconfig, tmp_path
    )
    assert result.returncode == 0, result.stderr
    watcher.join(30)
    stop.set()

    assert len(seen) >= 3, seen
    assert seen == sorted(seen) and seen[-1] == 100
    status = ojobs.status("transcribe-real")
    assert status["progressMessage"] == "done"
    summary = status["result"]
    assert summary["language"] == "en" and summary["segments"] >= 1
    transcript = json.loads(Path(urlsplit(summary["files"]["json"]).path).read_text())
    text = " ".join(segment["text"] for segment in transcript["segments"])
    assert word_error_rate(SPEECH, text) <= 0.3, text
    assert {"json", "srt", "vtt"} == set(summary["files"])
    ojobs.patch_spec("transcribe-real", {"cancel": True})


def test_scene_generation_reads_the_transcription_jobs_result(
    operator: OperatorProcess,
    k8s: client.ApiClient,
    job_namespace: str,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    ojobs = OmveeJobs(k8s, job_namespace)
    # where the earlier job stored it: the result directory both pods share
    transcript = tmp_path / "results" / "transcript.json"
    transcript.parent.mkdir()
    words = [
        (0.2, 0.6, "One"),
        (0.7, 1.5, "quick"),
        (1.6, 3.5, "fox."),
        (4.5, 4.9, "Two"),
        (5.0, 5.8, "dogs."),
    ]
    transcript.write_text(
        json.dumps(
            {
                "duration": 6.0,
                "segments": [
                    {
                        "id": 0,
                        "start": 0.2,
                        "end": 5.8,
                        "text": "One quick fox. Two dogs.",
                        "words": [{"start": s, "end": e, "word": w} for s, e, w in words],
                    }
                ],
            }
        )
    )
    source = manifest(
        "earlier", "transcription", pod_annotations=factories.pod_annotations(run_duration="1h")
    )
    ojobs.create(source)
    ojobs.wait_status("earlier", "its first run", lambda s: s.get("run") == 0)
    ojobs.custom.patch_namespaced_custom_object_status(  # as its pod would have left it
        "omvee.io",
        "v1alpha1",
        job_namespace,
        "omveejobs",
        "earlier",
        {
            "status": {
                "phase": "Succeeded",
                "reason": "Succeeded",
                "result": {"files": {"json": transcript.as_uri()}},
            }
        },
    )

    scenes_job = manifest(
        "scenes",
        "scene-generation",
        input={"transcriptJobId": source["spec"]["jobId"], "maxSceneSeconds": 10},
        pod_annotations=factories.pod_annotations(run_duration="1h"),
        projectId=source["spec"]["projectId"],  # a job takes input from its own project's only
    )
    ojobs.create(scenes_job)
    ojobs.wait_status("scenes", "Running", lambda s: s.get("phase") == "Running")
    result = run_as_pod(
        "jobimages.scene_generation", scenes_job, "scenes", job_namespace, kubeconfig, tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = ojobs.status("scenes")["result"]
    scenes = json.loads(Path(urlsplit(summary["files"]["json"]).path).read_text())["scenes"]
    assert [(s["start"], s["end"], s["text"]) for s in scenes] == [
        (0.0, 4.0, "One quick fox."),
        (4.0, 6.0, "Two dogs."),
    ]
    ojobs.patch_spec("scenes", {"cancel": True})


def test_a_job_naming_another_projects_job_reads_nothing_of_it(
    operator: OperatorProcess,
    k8s: client.ApiClient,
    job_namespace: str,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    """Run as its pod would be even if the operator had let it start: the scene job of another
    project exits 65 before fetching the earlier job's result."""
    ojobs = OmveeJobs(k8s, job_namespace)
    with recording_server(lambda path, body: (200, {"segments": []})) as results:
        source = manifest(
            "theirs", "transcription", pod_annotations=factories.pod_annotations(run_duration="1h")
        )
        ojobs.create(source)
        ojobs.wait_status("theirs", "its first run", lambda s: s.get("run") == 0)
        ojobs.custom.patch_namespaced_custom_object_status(
            "omvee.io",
            "v1alpha1",
            job_namespace,
            "omveejobs",
            "theirs",
            {
                "status": {
                    "phase": "Succeeded",
                    "reason": "Succeeded",
                    "result": {"files": {"json": f"{results.url}/transcript.json"}},
                }
            },
        )
        upstream = source["spec"]["jobId"]
        scenes_job = manifest("mine", "scene-generation", input={"transcriptJobId": upstream})
        ojobs.create(scenes_job)  # (the operator refuses it too: not its project's upstream)
        result = run_as_pod(
            "jobimages.scene_generation", scenes_job, "mine", job_namespace, kubeconfig, tmp_path
        )
    project = scenes_job["spec"]["projectId"]
    assert result.returncode == 65, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"permanent failure: there is no job {upstream} in project {project} to take input from"
    )
    assert results.requests == []
    ojobs.patch_spec("theirs", {"cancel": True})
