"""The Python client (api.client): the exact requests it makes, its retries (never a second job),
its typed errors and results, waiting on a job's server-sent events, and the per-type methods
made from the declarations. A contract test: httpx.MockTransport answers as the API does
(routes, status codes and bodies of api/rest); the client against the real API is
tests/integration/test_client.py."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from api.catalog.definition import DefinitionError, JobInput, JobTypeDefinition
from api.client import (
    ApiError,
    AsyncOmveeClient,
    Conflict,
    Forbidden,
    JobAccepted,
    JobCancelled,
    JobFailed,
    JobPublic,
    NotFound,
    OmveeClient,
    PipelineAccepted,
    PipelinePublic,
    RetryPolicy,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    WaitTimeout,
    stub,
    typed,
)
from api.client import follow as follow_module
from api.client import sync as sync_module
from api.client.retrying import retry_after

BASE = "http://omvee.test"
TOKEN = "service-token-0123456789"
PROJECT = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"
JOB = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"
AUDIO = "https://media.example.com/episode-1.mp3"
FAST = RetryPolicy(attempts=4, backoff=0.0, max_backoff=0.0, jitter=0.0)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler answering each request with the next of ``answers`` (a
    response, or an exception to raise as the transport would), recording the requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]

    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


def client(handler: Handler, retry: RetryPolicy = FAST) -> OmveeClient:
    return OmveeClient(BASE, TOKEN, retry=retry, transport=httpx.MockTransport(handler))


def async_client(handler: Handler, retry: RetryPolicy = FAST) -> AsyncOmveeClient:
    return AsyncOmveeClient(BASE, TOKEN, retry=retry, transport=httpx.MockTransport(handler))


def accepted(job_id: str = JOB, replayed: bool = False) -> httpx.Response:
    body = {"id": job_id, "status_url": f"{BASE}/v1/jobs/{job_id}", "phase": None}
    return httpx.Response(202, json=body | {"replayed": replayed})


def problem(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message}, headers=headers)


def job(phase: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "id": JOB,
        "project_id": PROJECT,
        "type": "transcription",
        "phase": phase,
        "progress": 100 if phase == "Succeeded" else 0,
        "attempts": 1,
    } | fields


def sse(*events: tuple[str, dict[str, Any]]) -> httpx.Response:
    text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return httpx.Response(200, content=text.encode(), headers={"Content-Type": "text/event-stream"})


def test_a_typed_method_posts_its_route_with_the_token_a_key_and_the_fields_given() -> None:
    answers = Recorder(accepted())
    with client(answers) as omvee:
        result = omvee.transcribe(PROJECT, audio_url=AUDIO, language="en", retries=2)
    assert isinstance(result, JobAccepted) and result.id == JOB
    (request,) = answers.requests
    assert (request.method, request.url.path) == (
        "POST",
        f"/v1/projects/{PROJECT}/transcriptions",
    )
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    uuid.UUID(request.headers["Idempotency-Key"])  # a fresh UUID
    # only what was given: the API applies the input's defaults itself
    assert answers.bodies() == [{"audio_url": AUDIO, "language": "en", "retries": 2}]


def test_every_declared_type_has_its_method_posting_its_own_route() -> None:
    from api.catalog.registry import DEFINITIONS

    for definition in DEFINITIONS:
        answers = Recorder(accepted())
        fields = {name: JOB for name in definition.upstream_fields()}
        if "audio_url" in definition.input_model.model_fields and not fields:
            fields["audio_url"] = AUDIO
        with client(answers) as omvee:
            getattr(omvee, definition.operation_id)(PROJECT, **fields)
        assert answers.requests[0].url.path == f"/v1/projects/{PROJECT}/{definition.route}"
        assert answers.bodies() == [fields]


def test_503_then_202_is_one_call_sequence_with_the_same_key_and_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    answers = Recorder(
        problem(503, "kubernetes_unavailable", "the Kubernetes API did not answer"),
        problem(503, "kubernetes_unavailable", "still not", **{"Retry-After": "7"}),
        accepted(),
    )
    with client(answers, RetryPolicy(attempts=5, backoff=0.5, jitter=0.0)) as omvee:
        result = omvee.submit(
            "transcription", PROJECT, {"audioUrl": AUDIO}, job_id=JOB, idempotency_key="k-1"
        )
    assert result.id == JOB
    assert [(r.method, r.url.path) for r in answers.requests] == [("POST", "/v1/jobs")] * 3
    assert answers.keys() == ["k-1", "k-1", "k-1"]
    body = {"type": "transcription", "project_id": PROJECT, "input": {"audio_url": AUDIO}}
    assert answers.bodies() == [body | {"job_id": JOB}] * 3
    assert slept == [0.5, 7.0]  # backoff, then the answer's Retry-After


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
    ],
    ids=["refused", "cut-after-sending", "read-timeout"],
)
def test_no_answer_then_success_retries_with_the_same_key(failure: Exception) -> None:
    answers = Recorder(failure, accepted(replayed=True))
    with client(answers) as omvee:
        result = omvee.generate_scenes(PROJECT, transcript_job_id=JOB, max_scene_seconds=20)
    assert result.replayed
    first, second = answers.keys()
    assert first == second and first is not None
    assert answers.bodies()[0] == answers.bodies()[1]


def test_each_call_gets_its_own_key() -> None:
    answers = Recorder(accepted(), accepted())
    with client(answers) as omvee:
        omvee.transcribe(PROJECT, audio_url=AUDIO)
        omvee.transcribe(PROJECT, audio_url=AUDIO)
    assert len(set(answers.keys())) == 2


def test_503_on_every_try_raises_unavailable_after_the_attempts() -> None:
    answers = Recorder(*[problem(503, "kubernetes_unavailable", "down")] * 4)
    with client(answers) as omvee, pytest.raises(Unavailable) as raised:
        omvee.get(JOB)
    assert len(answers.requests) == FAST.attempts
    assert (raised.value.status, raised.value.code, raised.value.message) == (
        503,
        "kubernetes_unavailable",
        "down",
    )


def test_no_answer_on_every_try_raises_unavailable_without_a_status() -> None:
    answers = Recorder(*[httpx.ConnectError("refused")] * 4)
    with client(answers) as omvee, pytest.raises(Unavailable) as raised:
        omvee.get(JOB)
    assert raised.value.status is None
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (problem(401, "unauthenticated", "no valid token"), Unauthorized, "unauthenticated"),
        (problem(403, "forbidden", "not yours"), Forbidden, "forbidden"),
        (problem(404, "not_found", f"no job {JOB}"), NotFound, "not_found"),
        (problem(409, "conflict", "job already ended (Failed)"), Conflict, "conflict"),
        (problem(429, "too_many_streams", "every slot is held"), Unavailable, "too_many_streams"),
        (problem(503, "kubernetes_unavailable", "down"), Unavailable, "kubernetes_unavailable"),
        (problem(413, "too_large", "the body exceeds 65536 bytes"), ApiError, "too_large"),
        (problem(500, "internal", "boom"), ApiError, "internal"),
    ],
)
def test_each_answer_raises_its_typed_error(
    answer: httpx.Response, error: type[ApiError], code: str
) -> None:
    answers = Recorder(*[answer] * FAST.attempts)
    with client(answers) as omvee, pytest.raises(error) as raised:
        omvee.cancel(JOB)
    assert type(raised.value) is error
    assert (raised.value.status, raised.value.code) == (answer.status_code, code)
    assert raised.value.message == answer.json()["message"]
    assert raised.value.body == answer.json()
    tries = FAST.attempts if answer.status_code in (429, 503) else 1
    assert len(answers.requests) == tries


def test_a_422_raises_validation_failed_naming_the_field_and_every_error() -> None:
    detail = [
        {"loc": ["body", "input", "audio_url"], "msg": "URL refused", "type": "url_policy"},
        {"loc": ["body", "retries"], "msg": "too many", "type": "less_than_equal"},
    ]
    answers = Recorder(httpx.Response(422, json={"detail": detail}))
    with client(answers) as omvee, pytest.raises(ValidationFailed) as raised:
        omvee.submit("transcription", PROJECT, {"audio_url": "http://10.0.0.5/a.mp3"})
    assert raised.value.status == 422
    assert raised.value.field == "input.audio_url"
    assert raised.value.errors == detail
    assert "input.audio_url: URL refused" in str(raised.value)


def test_a_domain_422_keeps_the_apis_message() -> None:
    answers = Recorder(problem(422, "invalid", "no job x in this project"))
    with client(answers) as omvee, pytest.raises(ValidationFailed) as raised:
        omvee.get(JOB)
    assert (raised.value.field, raised.value.message) == (None, "no job x in this project")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.transcribe(PROJECT, audio_url="ftp://x/a.mp3"), "audio_url"),
        (lambda c: c.transcribe(PROJECT, audio_url=AUDIO, langauge="en"), "langauge"),
        (lambda c: c.generate_images(PROJECT, prompts_job_id=JOB, width=10), "width"),
        (lambda c: c.generate_video(PROJECT), "images_job_id"),
        (lambda c: c.submit("transcription", PROJECT, {"audio_url": 3}), "input.audio_url"),
        (lambda c: c.submit("no-such-type", PROJECT, {}), "type"),
        (lambda c: c.submit_pipeline(PROJECT, AUDIO, steps=["scene-generation"]), "steps"),
    ],
    ids=["pattern", "unknown-field", "range", "missing", "generic", "type", "steps"],
)
def test_a_bad_field_fails_locally_naming_it_and_sends_nothing(
    call: Callable[[OmveeClient], Any], field: str
) -> None:
    answers = Recorder()
    with client(answers) as omvee, pytest.raises(ValidationFailed) as raised:
        call(omvee)
    assert raised.value.field == field and raised.value.status is None
    assert answers.requests == []


def test_get_cancel_and_retry_answer_the_apis_job_model() -> None:
    answers = Recorder(
        httpx.Response(200, json=job("Running")),
        httpx.Response(202, json=job("Running")),
        httpx.Response(202, json=job("Failed", run=1)),
    )
    with client(answers) as omvee:
        assert isinstance(omvee.get(JOB), JobPublic)
        omvee.cancel(JOB)
        assert omvee.retry(JOB).run == 1
    assert [(r.method, r.url.path) for r in answers.requests] == [
        ("GET", f"/v1/jobs/{JOB}"),
        ("POST", f"/v1/jobs/{JOB}/cancel"),
        ("POST", f"/v1/jobs/{JOB}/retry"),
    ]
    assert "Idempotency-Key" not in answers.requests[1].headers


def test_list_follows_the_cursor_and_stops_at_the_limit() -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]

    def page(chunk: list[str], next_cursor: str | None) -> httpx.Response:
        return httpx.Response(
            200, json={"items": [job("Succeeded", id=i) for i in chunk], "next": next_cursor}
        )

    answers = Recorder(page(ids[:2], "c1"), page(ids[2:4], "c2"), page(ids[4:], None))
    with client(answers) as omvee:
        found = [j.id for j in omvee.list(PROJECT, phase="Succeeded", page_size=2)]
    assert found == ids
    assert [dict(r.url.params) for r in answers.requests] == [
        {"limit": "2", "project_id": PROJECT, "phase": "Succeeded"},
        {"limit": "2", "project_id": PROJECT, "phase": "Succeeded", "cursor": "c1"},
        {"limit": "2", "project_id": PROJECT, "phase": "Succeeded", "cursor": "c2"},
    ]
    answers = Recorder(page(ids[:2], "c1"), page(ids[2:3], "c2"))
    with client(answers) as omvee:
        assert [j.id for j in omvee.list(type="transcription", limit=3, page_size=2)] == ids[:3]
    assert answers.requests[1].url.params["limit"] == "1"
    assert answers.requests[0].url.params["type"] == "transcription"


def test_wait_on_a_failed_job_raises_job_failed_with_its_reason_and_message() -> None:
    failed = job(
        "Failed", reason="BackoffLimitExceeded", message="exit code 1 on every attempt (3 of 3)"
    )
    answers = Recorder(sse(("status", job("Running")), ("status", failed), ("end", {})))
    with client(answers) as omvee, pytest.raises(JobFailed) as raised:
        omvee.wait(JOB, timeout=30)
    assert raised.value.reason == "BackoffLimitExceeded"
    assert raised.value.message == "exit code 1 on every attempt (3 of 3)"
    assert raised.value.job == JobPublic.model_validate(failed)
    (request,) = answers.requests
    assert (request.method, request.url.path) == ("GET", f"/v1/jobs/{JOB}/events")
    assert request.url.params["timeout"] == "30"
    assert request.headers["Accept"] == "text/event-stream"


def test_wait_returns_the_succeeded_job_and_raises_for_a_cancelled_one() -> None:
    answers = Recorder(sse(("status", job("Succeeded", result={"segments": 3}))))
    with client(answers) as omvee:
        done = omvee.wait(JOB)
    assert (done.phase, done.result) == ("Succeeded", {"segments": 3})
    answers = Recorder(sse(("status", job("Cancelled", reason="Cancelled", message="by you"))))
    with client(answers) as omvee, pytest.raises(JobCancelled) as raised:
        omvee.wait(JOB)
    assert raised.value.job.message == "by you"


class FakeClock:
    """Stands in for the ``time`` module of api.client.sync and follow: ``monotonic`` reads
    ``now``, and ``sleep`` moves it on, so deadlines pass without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_events_open_the_stream_again_and_never_repeat_a_status() -> None:
    running = job("Running", progress=40)
    answers = Recorder(
        sse(("status", job("Pending")), ("status", running)),  # the API's stream timed out
        httpx.RemoteProtocolError("peer closed connection"),  # opening again: retried
        sse(("status", running), ("status", job("Succeeded")), ("end", {})),
    )
    with client(answers) as omvee:
        phases = [(j.phase, j.progress) for j in omvee.events(JOB)]
    assert phases == [("Pending", 0), ("Running", 40), ("Succeeded", 100)]
    assert len(answers.requests) == 3


def test_wait_past_its_timeout_raises_wait_timeout_with_the_last_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(sync_module, "time", clock)
    monkeypatch.setattr(follow_module, "time", clock)

    def stream(request: httpx.Request) -> httpx.Response:
        clock.now += 0.3  # the API holds the stream until its timeout, then closes it
        return sse(("status", job("Running", progress=10)))

    with client(stream) as omvee, pytest.raises(WaitTimeout) as raised:
        omvee.wait(JOB, timeout=0.5)
    assert isinstance(raised.value, TimeoutError)
    assert raised.value.job is not None and raised.value.job.progress == 10


def test_wait_on_an_unknown_job_raises_not_found() -> None:
    answers = Recorder(problem(404, "not_found", f"no job {JOB}"))
    with client(answers) as omvee, pytest.raises(NotFound):
        omvee.wait(JOB)


def test_a_stream_that_keeps_breaking_raises_unavailable() -> None:
    answers = Recorder(*[sse()] * FAST.attempts)  # closes at once, no status
    with client(answers) as omvee, pytest.raises(Unavailable, match="closed without a status"):
        omvee.wait(JOB)


def test_pipelines_post_their_route_with_a_key_and_read_the_pipeline_view() -> None:
    steps = ["transcription", "scene-generation"]
    step_ids = [str(uuid.uuid4()) for _ in steps]
    pipeline_id = str(uuid.uuid4())
    body = {
        "id": pipeline_id,
        "status_url": f"{BASE}/v1/pipelines/{pipeline_id}",
        "steps": [
            {"type": t, "job_id": i, "status_url": f"{BASE}/v1/jobs/{i}"}
            for t, i in zip(steps, step_ids, strict=True)
        ],
        "replayed": False,
    }
    view = {
        "id": pipeline_id,
        "project_id": PROJECT,
        "phase": "Running",
        "steps": [job("Running", id=step_ids[0]), job(None, id=step_ids[1])],
    }
    answers = Recorder(
        httpx.ConnectError("refused"),
        httpx.Response(202, json=body),
        httpx.Response(200, json=view),
        httpx.Response(202, json=view),
        problem(409, "conflict", "no step is Failed or Cancelled"),
    )
    with client(answers) as omvee:
        result = omvee.submit_pipeline(PROJECT, AUDIO, steps, language="en", retries=1)
        assert isinstance(result, PipelineAccepted)
        assert [s.job_id for s in result.steps] == step_ids
        assert isinstance(omvee.get_pipeline(pipeline_id), PipelinePublic)
        assert omvee.cancel_pipeline(pipeline_id).phase == "Running"
        with pytest.raises(Conflict):
            omvee.retry_pipeline(pipeline_id)
    assert [(r.method, r.url.path) for r in answers.requests] == [
        ("POST", f"/v1/projects/{PROJECT}/pipelines"),
        ("POST", f"/v1/projects/{PROJECT}/pipelines"),
        ("GET", f"/v1/pipelines/{pipeline_id}"),
        ("POST", f"/v1/pipelines/{pipeline_id}/cancel"),
        ("POST", f"/v1/pipelines/{pipeline_id}/retry"),
    ]
    first, second = answers.keys()[:2]
    assert first == second and first is not None
    assert answers.bodies()[1] == {
        "audio_url": AUDIO,
        "steps": steps,
        "language": "en",
        "retries": 1,
    }


def test_an_id_cannot_reach_another_route() -> None:
    answers = Recorder(problem(404, "not_found", "no job"))
    with client(answers) as omvee, pytest.raises(NotFound):
        omvee.get("../pipelines/x")
    assert answers.requests[0].url.raw_path.decode() == "/v1/jobs/..%2Fpipelines%2Fx"


def test_async_client_503_then_202_reuses_the_key() -> None:
    answers = Recorder(problem(503, "kubernetes_unavailable", "down"), accepted())

    async def run() -> JobAccepted:
        async with async_client(answers) as omvee:
            return await omvee.transcribe(PROJECT, audio_url=AUDIO, idempotency_key="k-2")

    assert asyncio.run(run()).id == JOB
    assert answers.keys() == ["k-2", "k-2"]
    assert answers.bodies() == [{"audio_url": AUDIO}] * 2


def test_async_client_connection_error_then_success_and_typed_errors() -> None:
    answers = Recorder(
        httpx.ConnectError("refused"),
        accepted(),
        problem(409, "conflict", "job already ended"),
        httpx.Response(422, json={"detail": [{"loc": ["query", "limit"], "msg": "too big"}]}),
    )

    async def run() -> None:
        async with async_client(answers) as omvee:
            await omvee.submit("transcription", PROJECT, {"audio_url": AUDIO})
            with pytest.raises(Conflict):
                await omvee.cancel(JOB)
            with pytest.raises(ValidationFailed) as raised:
                [j async for j in omvee.list(PROJECT)]
            assert raised.value.field == "limit"

    asyncio.run(run())
    assert answers.keys()[0] == answers.keys()[1]


def test_async_wait_raises_job_failed_and_returns_a_success() -> None:
    failed = job("Failed", reason="PermanentFailure", message="exit 65: the URL was refused")
    answers = Recorder(
        sse(("status", job("Running")), ("status", failed), ("end", {})),
        sse(("status", job("Succeeded"))),
    )

    async def run() -> JobPublic:
        async with async_client(answers) as omvee:
            with pytest.raises(JobFailed) as raised:
                await omvee.wait(JOB, timeout=10)
            assert (raised.value.reason, raised.value.message) == (
                "PermanentFailure",
                "exit 65: the URL was refused",
            )
            return await omvee.wait(JOB)

    assert asyncio.run(run()).phase == "Succeeded"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("3", 3.0), ("0.5", 0.5), ("-2", 0.0), ("soon", None)],
)
def test_retry_after_reads_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after(value) == seconds


def test_retry_after_reads_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after(later, now=now) == 30.0
    assert retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0


def test_the_stub_matches_the_declarations() -> None:
    assert stub.STUB.read_text() == stub.render_stub(), (
        "api/client/jobtypes.pyi is stale: run `.venv/bin/python -m api.client.stub`"
    )


class _ToyInput(JobInput):
    """A job type declared after the client was written."""

    clip_url: str
    loud: bool = False


TOY = JobTypeDefinition(
    name="toy",
    input_model=_ToyInput,
    route="toys",
    operation_id="make_toy",
    summary="Make a toy",
    title="Toy",
)


@pytest.fixture
def toy_methods() -> Iterator[tuple[type[OmveeClient], type[AsyncOmveeClient]]]:
    sync_class = type("ToyClient", (OmveeClient,), {})
    async_class = type("AsyncToyClient", (AsyncOmveeClient,), {})
    typed.install(sync_class, async_class, [TOY])
    yield sync_class, async_class


def test_a_new_type_gets_its_method_from_its_declaration(
    toy_methods: tuple[type[OmveeClient], type[AsyncOmveeClient]],
) -> None:
    sync_class, async_class = toy_methods
    answers = Recorder(accepted(), accepted())
    with sync_class(BASE, TOKEN, retry=FAST, transport=httpx.MockTransport(answers)) as omvee:
        omvee.make_toy(PROJECT, clip_url="https://x.example.com/a", job_id=JOB)  # type: ignore[attr-defined]
        with pytest.raises(ValidationFailed) as raised:
            omvee.make_toy(PROJECT, clip_url="x", volume=11)  # type: ignore[attr-defined]
    assert raised.value.field == "volume"
    assert answers.requests[0].url.path == f"/v1/projects/{PROJECT}/toys"
    assert answers.bodies() == [{"clip_url": "https://x.example.com/a", "job_id": JOB}]
    assert "clip_url" in (sync_class.make_toy.__doc__ or "")  # type: ignore[attr-defined]
    assert asyncio.iscoroutinefunction(async_class.make_toy)  # type: ignore[attr-defined]


def test_an_operation_id_that_hides_a_client_method_is_refused() -> None:
    clash = JobTypeDefinition(
        name="clash",
        input_model=_ToyInput,
        route="clashes",
        operation_id="wait",
        summary="x",
        title="x",
    )
    with pytest.raises(DefinitionError, match="'wait' is a method of OmveeClient"):
        typed.check_names(OmveeClient, [clash])
