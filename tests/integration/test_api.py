"""The REST API as a process against the local control plane and the operator."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import uuid
from typing import Any

import httpx
import pytest
from kubernetes import client

from tests import factories
from tests.api_process import SERVICE_TOKEN, ApiProcess, results_dir, upstream_job, user_token
from tests.localcluster.stages import RUN_DURATION
from tests.omveejobs import OmveeJobs
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster
AUDIO = "https://media.example.com/projects/episode-1.mp3"
UPSTREAM = "<an earlier job of the same project>"


@pytest.fixture
def ojobs(k8s: client.ApiClient, api_namespace: str) -> OmveeJobs:
    return OmveeJobs(k8s, api_namespace)


def project() -> str:
    return str(uuid.uuid4())


def wait_phase(
    http: httpx.Client, job_id: str, phases: set[str], timeout: float = 60
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
        return body if body.get("phase") in phases else None

    found: dict[str, Any] = wait_for(reached, f"job {job_id} to reach {phases}", timeout)
    return found


def test_transcription_route_creates_the_omveejob_and_it_completes(
    http: httpx.Client, ojobs: OmveeJobs
) -> None:
    pid = project()
    response = http.post(
        f"/v1/projects/{pid}/transcriptions", json={"audio_url": AUDIO, "language": "en"}
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert response.headers["location"] == accepted["status_url"]
    assert accepted["status_url"].endswith(f"/v1/jobs/{accepted['id']}")
    ojob = ojobs.get(f"job-{accepted['id']}")
    assert ojob["spec"] | {"podAnnotations": None, "cancel": None, "rerun": None} == {
        "type": "transcription",
        "projectId": pid,
        "jobId": accepted["id"],
        "input": {"audioUrl": AUDIO, "language": "en", "wordTimestamps": True, "vadFilter": True},
        "podAnnotations": None,
        "cancel": None,
        "rerun": None,
    }
    done = wait_phase(http, accepted["id"], {"Succeeded"})
    assert (done["progress"], done["attempts"], done["type"]) == (100, 1, "transcription")
    assert done["node"].startswith("kwok-gpu-")


@pytest.mark.parametrize(
    ("path", "body", "job_type"),
    [
        ("scenes", {"transcript_job_id": UPSTREAM, "max_scene_seconds": 20}, "scene-generation"),
        ("visual-prompts", {"scenes_job_id": UPSTREAM, "style": "watercolour"}, "visual-prompts"),
        (
            "images",
            {"prompts_job_id": UPSTREAM, "width": 512, "height": 512},
            "image-generation",
        ),
        ("videos", {"images_job_id": UPSTREAM, "audio_url": AUDIO, "fps": 30}, "video-generation"),
    ],
)
def test_every_typed_route_submits_its_type(
    http: httpx.Client, ojobs: OmveeJobs, path: str, body: dict[str, Any], job_type: str
) -> None:
    pid = project()
    upstream = upstream_job(http, pid)
    body = {k: upstream if v == UPSTREAM else v for k, v in body.items()}
    response = http.post(f"/v1/projects/{pid}/{path}", json=body)
    assert response.status_code == 202, response.text
    assert ojobs.get(f"job-{response.json()['id']}")["spec"]["type"] == job_type


def test_generic_submission_list_filters_and_pages(http: httpx.Client) -> None:
    pid = project()
    ids = []
    for job_type, job_input in (
        ("transcription", {"audio_url": AUDIO}),
        ("scene-generation", {"transcript_job_id": UPSTREAM}),
        ("scene-generation", {"transcriptJobId": UPSTREAM}),
    ):
        job_input = {k: ids[0] if v == UPSTREAM else v for k, v in job_input.items()}
        response = http.post(
            "/v1/jobs", json={"type": job_type, "project_id": pid, "input": job_input}
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    page = http.get("/v1/jobs", params={"project_id": pid, "limit": 2}).json()
    assert len(page["items"]) == 2 and page["next"]
    rest = http.get(
        "/v1/jobs", params={"project_id": pid, "limit": 2, "cursor": page["next"]}
    ).json()
    assert {j["id"] for j in page["items"] + rest["items"]} == set(ids)
    assert rest["next"] is None
    scenes = http.get("/v1/jobs", params={"project_id": pid, "type": "scene-generation"}).json()
    assert {j["id"] for j in scenes["items"]} == set(ids[1:])
    for job_id in ids:
        wait_phase(http, job_id, {"Succeeded"})
    done = http.get("/v1/jobs", params={"project_id": pid, "phase": "Succeeded"}).json()
    assert len(done["items"]) == 3
    assert http.get("/v1/jobs", params={"project_id": pid, "phase": "Failed"}).json()["items"] == []


def test_cancel_and_retry_reach_the_operators_outcome(http: httpx.Client, ojobs: OmveeJobs) -> None:
    job_id, pid = str(uuid.uuid4()), project()
    response = http.post(
        "/v1/jobs",
        json={
            "type": "scene-generation",
            "project_id": pid,
            "job_id": job_id,
            "input": {"transcript_job_id": upstream_job(http, pid)},
            "pod_annotations": factories.pod_annotations(run_duration="1h"),
        },
    )
    assert response.status_code == 202
    assert http.post(f"/v1/jobs/{job_id}/retry").status_code == 409  # not failed
    wait_phase(http, job_id, {"Running"})
    assert http.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    cancelled = wait_phase(http, job_id, {"Cancelled"})
    assert cancelled["reason"] == "Cancelled"
    assert http.post(f"/v1/jobs/{job_id}/cancel").status_code == 409
    # the next run's pods finish quickly (a merge patch: null removes the key)
    ojobs.patch_spec(f"job-{job_id}", {"podAnnotations": {RUN_DURATION: None}})
    retried = http.post(f"/v1/jobs/{job_id}/retry")
    assert retried.status_code == 202, retried.text
    assert http.post(f"/v1/jobs/{job_id}/retry").status_code == 409  # already retrying
    done = wait_for(
        lambda: (lambda b: b if b["run"] == 1 and b["phase"] == "Succeeded" else None)(
            http.get(f"/v1/jobs/{job_id}").json()
        ),
        "run 1 to succeed",
        60,
    )
    assert done["attempts"] == 1


def test_events_stream_status_changes_until_final(http: httpx.Client, ojobs: OmveeJobs) -> None:
    job_id, pid = str(uuid.uuid4()), project()
    http.post(
        "/v1/jobs",
        json={
            "type": "scene-generation",
            "project_id": pid,
            "job_id": job_id,
            "input": {"transcript_job_id": upstream_job(http, pid)},
            "pod_annotations": factories.pod_annotations(run_duration="2s"),
        },
    )
    phases = []
    with http.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "status":
                phase = json.loads(line.removeprefix("data: "))["phase"]
                if not phases or phases[-1] != phase:
                    phases.append(phase)
            elif event == "end":
                break
    assert phases[-1] == "Succeeded"
    assert "Running" in phases


def test_idempotency_key_under_concurrent_duplicates(
    http: httpx.Client, ojobs: OmveeJobs, api_server: ApiProcess
) -> None:
    pid, key = project(), f"upload-{uuid.uuid4()}"
    body = {"type": "transcription", "project_id": pid, "input": {"audio_url": AUDIO}}

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=api_server.url, timeout=30) as session:
            return session.post(
                "/v1/jobs",
                json=body,
                headers={"Authorization": f"Bearer {SERVICE_TOKEN}", "Idempotency-Key": key},
            )

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(post, range(12)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(1 for r in responses if not r.json()["replayed"]) == 1
    listed = http.get("/v1/jobs", params={"project_id": pid}).json()["items"]
    assert len(listed) == 1
    different = http.post(
        "/v1/jobs",
        headers={"Idempotency-Key": key},
        json=body | {"input": {"audio_url": AUDIO + "?v=2"}},
    )
    assert different.status_code == 409
    assert "different request" in different.json()["message"]


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        (
            {"audio_url": "file:///etc/passwd"},
            ["body", "input", "audio_url"],
            "String should match",
        ),
        (
            {"audio_url": "http://169.254.169.254/latest/meta-data"},
            ["body", "input", "audio_url"],
            "host 169.254.169.254 is a link-local address",
        ),
        (
            {"audio_url": "http://10.96.0.1/x.mp3"},
            ["body", "input", "audio_url"],
            "host 10.96.0.1 is in the blocked network 10.96.0.0/12",
        ),
        (
            {"audio_url": "https://exa mple.org/x"},
            ["body", "input", "audio_url"],
            "host 'exa mple.org' must not contain spaces",
        ),
        (
            {"audio_url": "https://exa%00mple.org/x"},
            ["body", "input", "audio_url"],
            "host exa%00mple.org is not a valid host name",
        ),
        ({"audio_url": "https:///x.mp3"}, ["body", "input", "audio_url"], "has no host"),
        (
            {"audio_url": "http://minio.storage.svc/a.mp3"},
            ["body", "input", "audio_url"],
            "is internal",
        ),
        (
            {"audio_url": "http://127.0.0.1:9000/a.mp3"},
            ["body", "input", "audio_url"],
            "port 80 or 443",
        ),
        ({}, ["body", "input", "audioUrl"], "Field required"),
        ({"audio_url": AUDIO, "speed": 2}, ["body", "input", "speed"], "Extra inputs"),
    ],
)
def test_bad_input_is_a_field_level_422_and_creates_nothing(
    http: httpx.Client, body: dict[str, Any], loc: list[str], message: str
) -> None:
    pid = project()
    response = http.post(
        "/v1/jobs", json={"type": "transcription", "project_id": pid, "input": body}
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert message in error["msg"]
    assert http.get("/v1/jobs", params={"project_id": pid}).json()["items"] == []


def test_a_name_that_does_not_resolve_is_accepted_at_submission(http: httpx.Client) -> None:
    """The API resolves no name (media.invalid exists nowhere, RFC 6761): the job is created,
    and its pod checks the name's addresses when it fetches (see test_jobimages_egress)."""
    response = http.post(
        f"/v1/projects/{project()}/transcriptions",
        json={"audio_url": "http://media.invalid/x.mp3"},
    )
    assert response.status_code == 202, response.text
    assert http.get(f"/v1/jobs/{response.json()['id']}").status_code == 200


def test_an_earlier_job_of_another_project_is_refused_like_an_unknown_one(
    api_server: ApiProcess,
) -> None:
    """Users of project B cannot take project A's results as input, nor learn that A's job
    exists: both are the same field-level 422, and nothing is created."""
    project_a, project_b = project(), project()

    def session(pid: str) -> httpx.Client:
        token = user_token([pid], subject=f"user-of-{pid}")
        return httpx.Client(
            base_url=api_server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )

    with session(project_a) as a, session(project_b) as b:
        theirs = a.post(f"/v1/projects/{project_a}/transcriptions", json={"audio_url": AUDIO})
        assert theirs.status_code == 202, theirs.text
        answers = {}
        for job_id in (theirs.json()["id"], str(uuid.uuid4())):
            response = b.post(
                f"/v1/projects/{project_b}/scenes", json={"transcript_job_id": job_id}
            )
            [error] = response.json()["detail"]
            answers[job_id] = (response.status_code, error["loc"], error["msg"])
        assert answers == {
            job_id: (
                422,
                ["body", "transcript_job_id"],  # the typed route's body is the input
                f"no job {job_id} in this project",
            )
            for job_id in answers
        }
        assert b.get("/v1/jobs", params={"project_id": project_b}).json()["items"] == []
        mine = a.post(
            f"/v1/projects/{project_a}/scenes", json={"transcript_job_id": theirs.json()["id"]}
        )
        assert mine.status_code == 202, mine.text


def test_other_bad_requests(http: httpx.Client) -> None:
    assert http.get(f"/v1/jobs/{uuid.uuid4()}").status_code == 404
    assert http.get("/v1/jobs/not-a-uuid").status_code == 422
    typed = http.post(
        f"/v1/projects/{project()}/transcriptions", json={"audio_url": "ftp://x/a.mp3"}
    )
    assert typed.status_code == 422
    assert typed.json()["detail"][0]["loc"] == ["body", "audio_url"]
    huge = http.post(
        "/v1/jobs",
        content=b"{" + b" " * 200_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.json()["code"] == "too_large"
    unknown = http.post("/v1/jobs", json={"type": "karaoke", "project_id": project(), "input": {}})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "type"]


def test_u0000_in_an_input_is_a_field_level_422_and_creates_nothing(http: httpx.Client) -> None:
    pid = project()
    response = http.post(  # a JSON \u0000 escape, as a client sends it
        f"/v1/projects/{pid}/transcriptions",
        content=b'{"audio_url": "https://example.org/a\\u0000b.wav"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "audio_url"], "control_character")
    assert "found U+0000" in error["msg"]
    assert http.get("/v1/jobs", params={"project_id": pid}).json()["items"] == []


def test_auth_rules(api_server: ApiProcess) -> None:
    mine, other = project(), project()
    with httpx.Client(base_url=api_server.url, timeout=30) as anon:
        assert anon.get("/v1/jobs").status_code == 401
        assert anon.get("/v1/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
        expired = user_token([mine], expires_in=-10)
        response = anon.get("/v1/jobs", headers={"Authorization": f"Bearer {expired}"})
        assert (response.status_code, response.json()["message"]) == (401, "the token has expired")
        forged = user_token([mine], secret="x" * 40)
        assert (
            anon.get("/v1/jobs", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        )

    user = {"Authorization": f"Bearer {user_token([mine])}"}
    with httpx.Client(base_url=api_server.url, timeout=30, headers=user) as session:
        own = session.post(f"/v1/projects/{mine}/transcriptions", json={"audio_url": AUDIO})
        assert own.status_code == 202
        assert session.get(f"/v1/jobs/{own.json()['id']}").status_code == 200
        assert session.get("/v1/jobs").json()["items"][0]["id"] == own.json()["id"]
        assert (
            session.post(
                f"/v1/projects/{other}/transcriptions", json={"audio_url": AUDIO}
            ).status_code
            == 404
        )
    with httpx.Client(
        base_url=api_server.url, timeout=30, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    ) as service:
        theirs = service.post(f"/v1/projects/{other}/transcriptions", json={"audio_url": AUDIO})
        assert theirs.status_code == 202
    with httpx.Client(base_url=api_server.url, timeout=30, headers=user) as session:
        job = theirs.json()["id"]
        assert session.get(f"/v1/jobs/{job}").status_code == 404
        assert session.post(f"/v1/jobs/{job}/cancel").status_code == 404
        assert session.get("/v1/jobs", params={"project_id": other}).status_code == 404


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}


def test_logs_of_the_latest_or_a_given_attempt_stream(http: httpx.Client, ojobs: OmveeJobs) -> None:
    job_id, pid = str(uuid.uuid4()), project()
    http.post(
        "/v1/jobs",
        json={
            "type": "scene-generation",
            "project_id": pid,
            "job_id": job_id,
            "retries": 2,
            "input": {"transcript_job_id": upstream_job(http, pid)},
            "pod_annotations": factories.pod_annotations(exit_code=1, fail_attempts=1),
        },
    )
    done = wait_phase(http, job_id, {"Succeeded"}, timeout=90)
    assert done["attempts"] == 2
    for params in ({}, {"attempt": 1}, {"attempt": 2}):
        with http.stream("GET", f"/v1/jobs/{job_id}/logs", params=params) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/plain")
            header, *lines = stream.iter_lines()
        attempt = params.get("attempt", 2)
        assert header.startswith(f"# omvee: run 0 attempt {attempt}, pod job-{job_id}-r0-")
        assert f"exit code {1 if attempt == 1 else 0}" in header
        assert lines == [f"omvee fake job: step {i} of 3" for i in range(1, 4)]
    missing = http.get(f"/v1/jobs/{job_id}/logs", params={"attempt": 3})
    assert (missing.status_code, missing.json()["message"]) == (
        404,
        f"job {job_id} has 2 attempt(s) in run 0, not 3",
    )


def test_a_failed_jobs_logs_of_every_attempt_outlive_its_pods(
    http: httpx.Client, ojobs: OmveeJobs, batch: client.BatchV1Api, api_namespace: str
) -> None:
    job_id, pid = str(uuid.uuid4()), project()
    http.post(
        "/v1/jobs",
        json={
            "type": "scene-generation",
            "project_id": pid,
            "job_id": job_id,
            "retries": 2,
            "input": {"transcript_job_id": upstream_job(http, pid)},
            "pod_annotations": factories.pod_annotations(exit_code=3),
        },
    )
    assert wait_phase(http, job_id, {"Failed"}, timeout=90)["attempts"] == 3
    name = f"job-{job_id}"
    saved = ojobs.status(name)["logs"]
    pods = sorted(ojobs.pods(name), key=lambda p: (p.metadata.creation_timestamp, p.metadata.name))
    assert [(e["run"], e["attempt"], e["exitCode"], e["pod"]) for e in saved] == [
        (0, n, 3, pod.metadata.name) for n, pod in enumerate(pods, 1)
    ]
    # What the Job's TTL does once it expires: the Job goes, and its pods with it.
    batch.delete_namespaced_job(
        ojobs.status(name)["jobName"], api_namespace, propagation_policy="Foreground"
    )
    wait_for(lambda: not ojobs.pods(name) and not ojobs.jobs(name), "the pods to be gone", 60)
    for entry in saved:
        response = http.get(f"/v1/jobs/{job_id}/logs", params={"attempt": entry["attempt"]})
        assert response.status_code == 200, response.text
        header, *lines = response.text.splitlines()
        assert header.startswith(
            f"# omvee: run 0 attempt {entry['attempt']}, pod {entry['pod']} on kwok-"
        )
        assert "exit code 3" in header
        assert lines == [f"omvee fake job: step {i} of 3" for i in range(1, 4)]
    assert http.get(f"/v1/jobs/{job_id}/logs").text == response.text  # the latest: attempt 3


def test_pod_annotations_outside_the_allowed_prefixes_are_refused(http: httpx.Client) -> None:
    response = http.post(
        "/v1/jobs",
        json={
            "type": "transcription",
            "project_id": project(),
            "input": {"audio_url": AUDIO},
            "pod_annotations": {"sidecar.istio.io/inject": "false"},
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == [
        "body",
        "pod_annotations",
        "sidecar.istio.io/inject",
    ]


def raw_get(api_server: ApiProcess, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written: no client removes dot segments or re-encodes it."""
    connection = http.client.HTTPConnection("127.0.0.1", api_server.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_result_files_are_served_from_the_store_and_only_the_jobs_own(
    http: httpx.Client, api_server: ApiProcess, k8s: client.ApiClient, api_namespace: str
) -> None:
    pid, other = project(), str(uuid.uuid4())
    response = http.post(f"/v1/projects/{pid}/transcriptions", json={"audio_url": AUDIO})
    job_id = response.json()["id"]
    custom = client.CustomObjectsApi(k8s)

    def run_started() -> bool:  # a new run clears status.result: report after it began
        ojob = custom.get_namespaced_custom_object(
            "omvee.io", "v1alpha1", api_namespace, "omveejobs", f"job-{job_id}"
        )
        return bool((ojob.get("status") or {}).get("jobName"))

    wait_for(run_started, "the operator to create the job's first run", 30)
    # what a job pod does: store files on the results volume, name them in its result
    run = results_dir() / pid / job_id / "run-0"
    run.mkdir(parents=True, exist_ok=True)
    (run / "transcript.json").write_text('{"segments": [{"text": "hello"}]}')
    (run / "transcript.vtt").write_text("WEBVTT\n")
    elsewhere = results_dir() / pid / other / "run-0"
    elsewhere.mkdir(parents=True, exist_ok=True)
    (elsewhere / "secret.json").write_text("another job's")
    (run / "planted.json").symlink_to(elsewhere / "secret.json")
    root = "file:///var/lib/omvee/results"
    files = {
        "json": f"{root}/{pid}/{job_id}/run-0/transcript.json",
        "vtt": f"{root}/{pid}/{job_id}/run-0/transcript.vtt",
        "stolen": f"{root}/{pid}/{other}/run-0/secret.json",
    }
    custom.patch_namespaced_custom_object_status(
        "omvee.io", "v1alpha1", api_namespace, "omveejobs", f"job-{job_id}",
        {"status": {"result": {"files": files}}},
    )  # fmt: skip
    links = wait_for(
        lambda: http.get(f"/v1/jobs/{job_id}").json()["result_links"] or None,
        "the result links",
        30,
    )
    assert links == {
        "transcript.json": f"/v1/jobs/{job_id}/results/transcript.json",
        "transcript.vtt": f"/v1/jobs/{job_id}/results/transcript.vtt",
    }
    served = http.get(links["transcript.json"])
    assert (served.status_code, served.json()) == (200, {"segments": [{"text": "hello"}]})
    assert http.get(links["transcript.vtt"]).headers["content-type"].startswith("text/vtt")
    base = f"/v1/jobs/{job_id}/results"
    for path in (
        f"{base}/..",
        f"{base}/../../{other}/results/secret.json",
        f"{base}/%2E%2E%2F%2E%2E%2F{other}%2Frun-0%2Fsecret.json",
        f"{base}/%2Fetc%2Fpasswd",
        f"{base}//etc/passwd",
        f"{base}/secret.json",
        f"{base}/planted.json",
        f"{base}/run-0%2Ftranscript.json",
    ):
        status, body = raw_get(api_server, path)
        assert status in (404, 405), (path, status, body)
        assert b"another job's" not in body and b"root:" not in body
    # another project's caller gets the same 404 as for a missing job
    stranger = {"Authorization": f"Bearer {user_token([other])}"}
    assert http.get(links["transcript.json"], headers=stranger).status_code == 404
