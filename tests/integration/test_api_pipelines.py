"""Pipelines through the REST API process, against the local control plane and the operator:
one submission creates every step's OmveeJob, linked; GET shows it as a whole; duplicates under
one Idempotency-Key make one pipeline; cancel and retry act on every step; the mirror rows
carry the pipeline id; the example manifests pass the CRD.

The order in which steps run is the operator's (tests/integration/test_operator_*): not checked
here."""

from __future__ import annotations

import concurrent.futures
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from kubernetes import client

from api.catalog.pipelines import PIPELINE_ORDER, step_job_id
from api.v1alpha1 import constants
from tests import factories
from tests.api_process import SERVICE_TOKEN, ApiProcess, user_token
from tests.localcluster.layout import REPO_ROOT
from tests.localcluster.stages import EXIT_CODE, RUN_DURATION
from tests.omveejobs import OmveeJobs
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster
AUDIO = "https://media.example.com/projects/episode-1.mp3"
SHORT = ["transcription", "scene-generation"]


@pytest.fixture
def ojobs(k8s: client.ApiClient, api_namespace: str) -> OmveeJobs:
    return OmveeJobs(k8s, api_namespace)


def project() -> str:
    return str(uuid.uuid4())


def submit(http: httpx.Client, pid: str, **body: Any) -> dict[str, Any]:
    response = http.post(f"/v1/projects/{pid}/pipelines", json={"audio_url": AUDIO, **body})
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def wait_pipeline(
    http: httpx.Client, pipeline: str, what: str, check: Any, timeout: float = 120
) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        nonlocal last
        last = http.get(f"/v1/pipelines/{pipeline}").json()
        return last if check(last) else None

    try:
        found: dict[str, Any] = wait_for(reached, f"pipeline {pipeline}: {what}", timeout)
    except Exception as error:
        raise AssertionError(f"{error}; last: {last}") from None
    return found


def in_pipeline(ojobs: OmveeJobs, pipeline: str) -> list[dict[str, Any]]:
    listed = ojobs.custom.list_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        ojobs.namespace,
        constants.PLURAL,
        field_selector=f"spec.pipelineId={pipeline}",
    )
    return list(listed["items"])


def test_a_pipeline_creates_every_step_linked_and_reads_as_a_whole(
    http: httpx.Client, ojobs: OmveeJobs, operator_mirror_dsn: str
) -> None:
    pid = project()
    accepted = submit(http, pid, language="en", pod_annotations=factories.pod_annotations())
    pipeline = accepted["id"]
    assert accepted["status_url"].endswith(f"/v1/pipelines/{pipeline}")
    assert accepted["replayed"] is False
    ids = {t: step_job_id(pipeline, t) for t in PIPELINE_ORDER}
    assert [(s["type"], s["job_id"]) for s in accepted["steps"]] == list(ids.items())
    created = {o["spec"]["type"]: o for o in in_pipeline(ojobs, pipeline)}
    assert set(created) == set(PIPELINE_ORDER)
    for job_type, ojob in created.items():
        assert ojob["metadata"]["labels"][constants.LABEL_PIPELINE_ID] == pipeline
        assert (ojob["spec"]["projectId"], ojob["spec"]["jobId"]) == (pid, ids[job_type])
    assert created["scene-generation"]["spec"]["input"]["transcriptJobId"] == ids["transcription"]
    assert created["visual-prompts"]["spec"]["input"]["scenesJobId"] == ids["scene-generation"]
    assert created["image-generation"]["spec"]["input"]["promptsJobId"] == ids["visual-prompts"]
    video = created["video-generation"]["spec"]["input"]
    assert (video["imagesJobId"], video["audioUrl"]) == (ids["image-generation"], AUDIO)

    view = http.get(f"/v1/pipelines/{pipeline}").json()
    assert set(view) == {"id", "project_id", "phase", "steps", "created_at"}
    assert (view["id"], view["project_id"]) == (pipeline, pid)
    assert view["phase"] in ("Pending", "Running")
    assert [s["type"] for s in view["steps"]] == list(PIPELINE_ORDER)
    for step in view["steps"]:  # each step is the job's own view (its values change meanwhile)
        assert set(step) == set(http.get(f"/v1/jobs/{step['id']}").json())
    done = wait_pipeline(http, pipeline, "Succeeded", lambda v: v["phase"] == "Succeeded")
    assert [(s["phase"], s["progress"]) for s in done["steps"]] == [("Succeeded", 100)] * 5
    for step in done["steps"]:
        assert step == http.get(f"/v1/jobs/{step['id']}").json()
    listed = http.get("/v1/pipelines", params={"project_id": pid}).json()["items"]
    assert listed == [
        {
            "id": pipeline,
            "project_id": pid,
            "phase": "Succeeded",
            "created_at": done["created_at"],
            "step_count": 5,
        }
    ]

    def mirrored() -> list[tuple[str, str]] | None:
        with psycopg.connect(operator_mirror_dsn) as connection:
            rows = connection.execute(
                "select id::text, status from public.jobs where pipeline_id = %s", [pipeline]
            ).fetchall()
        found = [(str(r[0]), str(r[1])) for r in rows]
        return found if sorted(found) == sorted((i, "succeeded") for i in ids.values()) else None

    wait_for(mirrored, "the mirror rows to carry the pipeline id", 60)


def test_ten_concurrent_duplicates_make_one_pipeline(
    http: httpx.Client, ojobs: OmveeJobs, api_server: ApiProcess
) -> None:
    pid, key = project(), f"upload-{uuid.uuid4()}"
    body = {"audio_url": AUDIO, "pod_annotations": factories.pod_annotations()}

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=api_server.url, timeout=30) as session:
            return session.post(
                f"/v1/projects/{pid}/pipelines",
                json=body,
                headers={"Authorization": f"Bearer {SERVICE_TOKEN}", "Idempotency-Key": key},
            )

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(post, range(10)))
    assert [r.status_code for r in responses] == [202] * 10, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(1 for r in responses if not r.json()["replayed"]) == 1
    pipeline = responses[0].json()["id"]
    assert sorted(o["spec"]["type"] for o in in_pipeline(ojobs, pipeline)) == sorted(PIPELINE_ORDER)
    listed = http.get("/v1/pipelines", params={"project_id": pid}).json()["items"]
    assert [(p["id"], p["step_count"]) for p in listed] == [(pipeline, 5)]
    different = http.post(
        f"/v1/projects/{pid}/pipelines",
        json=body | {"steps": SHORT},
        headers={"Idempotency-Key": key},
    )
    assert different.status_code == 409
    assert "different request" in different.json()["message"]


def test_cancel_stops_every_unfinished_step(http: httpx.Client) -> None:
    accepted = submit(
        http, project(), steps=SHORT, pod_annotations=factories.pod_annotations(run_duration="1h")
    )
    pipeline = accepted["id"]
    wait_pipeline(http, pipeline, "a step Running", lambda v: v["phase"] == "Running", 60)
    response = http.post(f"/v1/pipelines/{pipeline}/cancel")
    assert response.status_code == 202, response.text
    assert response.json()["id"] == pipeline
    done = wait_pipeline(
        http,
        pipeline,
        "every step Cancelled",
        lambda v: [s["phase"] for s in v["steps"]] == ["Cancelled", "Cancelled"],
        60,
    )
    assert done["phase"] == "Cancelled"
    again = http.post(f"/v1/pipelines/{pipeline}/cancel")
    assert again.status_code == 409, again.text


def test_retry_runs_every_failed_step_again(http: httpx.Client, ojobs: OmveeJobs) -> None:
    accepted = submit(
        http,
        project(),
        steps=SHORT,
        retries=0,
        pod_annotations=factories.pod_annotations(exit_code=1),
    )
    pipeline = accepted["id"]
    assert http.post(f"/v1/pipelines/{pipeline}/retry").status_code == 409  # nothing ended yet
    failed = wait_pipeline(
        http,
        pipeline,
        "every step ended, one Failed",
        lambda v: all(s["phase"] in ("Failed", "Cancelled") for s in v["steps"]),
    )
    assert failed["phase"] == "Failed"
    for step in accepted["steps"]:  # the next run's pods succeed (null removes the key)
        ojobs.patch_spec(f"job-{step['job_id']}", {"podAnnotations": {EXIT_CODE: None}})
    response = http.post(f"/v1/pipelines/{pipeline}/retry")
    assert response.status_code == 202, response.text
    done = wait_pipeline(http, pipeline, "Succeeded", lambda v: v["phase"] == "Succeeded")
    assert [(s["run"], s["phase"]) for s in done["steps"]] == [(1, "Succeeded")] * 2
    again = http.post(f"/v1/pipelines/{pipeline}/retry")
    assert again.status_code == 409
    assert "no Failed or Cancelled step" in again.json()["message"]


def test_another_projects_pipeline_is_a_404(http: httpx.Client, api_server: ApiProcess) -> None:
    mine, theirs = project(), project()
    other = submit(http, theirs, steps=["transcription"])["id"]
    own = submit(http, mine, steps=["transcription"])["id"]
    user = {"Authorization": f"Bearer {user_token([mine])}"}
    with httpx.Client(base_url=api_server.url, timeout=30, headers=user) as session:
        assert session.get(f"/v1/pipelines/{own}").status_code == 200
        for method, path in (
            ("GET", f"/v1/pipelines/{other}"),
            ("POST", f"/v1/pipelines/{other}/cancel"),
            ("POST", f"/v1/pipelines/{other}/retry"),
            ("GET", f"/v1/pipelines?project_id={theirs}"),
        ):
            response = session.request(method, path)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["code"] == "not_found"
        refused = session.post(f"/v1/projects/{theirs}/pipelines", json={"audio_url": AUDIO})
        assert refused.status_code == 404
        assert [p["id"] for p in session.get("/v1/pipelines").json()["items"]] == [own]
    assert http.get(f"/v1/pipelines/{uuid.uuid4()}").status_code == 404


@pytest.mark.parametrize(
    ("steps", "loc"),
    [
        (["scene-generation", "visual-prompts"], ["body", "steps"]),
        (["transcription", "image-generation"], ["body", "steps"]),
        (["karaoke"], ["body", "steps", 0]),
        ([], ["body", "steps"]),
    ],
)
def test_bad_steps_are_a_422_naming_the_field_and_create_nothing(
    http: httpx.Client, steps: list[str], loc: list[Any]
) -> None:
    pid = project()
    response = http.post(f"/v1/projects/{pid}/pipelines", json={"audio_url": AUDIO, "steps": steps})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert http.get("/v1/jobs", params={"project_id": pid}).json()["items"] == []


def test_the_example_manifests_pass_the_crd(
    kubeconfig: Path, namespace: str, crd: dict[str, object]
) -> None:
    example = REPO_ROOT / "charts/omvee/examples/pipeline.yaml"
    result = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            namespace,
            "apply",
            "--server-side",
            "--dry-run=server",
            "-f",
            str(example),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("omveejob.omvee.io/episode-1-") == 5, result.stdout
    assert "(server dry run)" in result.stdout


def test_a_run_duration_is_what_the_pods_get(http: httpx.Client, ojobs: OmveeJobs) -> None:
    """pod_annotations reach every step (the tests above steer kwok's fake pods with them)."""
    accepted = submit(http, project(), steps=SHORT, pod_annotations={RUN_DURATION: "300ms"})
    for ojob in in_pipeline(ojobs, accepted["id"]):
        assert ojob["spec"]["podAnnotations"] == {RUN_DURATION: "300ms"}
