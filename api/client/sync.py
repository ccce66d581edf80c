"""The synchronous client: :class:`OmveeClient` (httpx.Client underneath)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx
from httpx_sse import EventSource

from api.catalog.definition import JobTypeDefinition
from api.catalog.pipelines import PipelinePublic
from api.client import calls, follow
from api.client.calls import Call
from api.client.errors import Unavailable, WaitTimeout, error_for
from api.client.jobtypes import JobTypeMethods
from api.client.retrying import (
    RETRY_ERRORS,
    RETRY_STATUSES,
    RetryableAnswer,
    RetryPolicy,
    retrying,
)
from api.client.typed import check_names
from api.v1alpha1.public import JobAccepted, JobPublic, JobsPublic, PipelineAccepted


class OmveeClient(JobTypeMethods):
    """A client of the OMVEE jobs API at ``base_url`` (``http://127.0.0.1:8000``), sending
    ``token`` (a Supabase user access token, or one of the API's service tokens) as
    ``Authorization: Bearer``. ``timeout``: seconds for connecting, reading and writing one
    request (a stream reads longer). ``retry``: how requests that got no answer, a 503 or a
    429 are tried again. ``transport``: httpx's (tests pass an ``httpx.MockTransport``).

    Besides the methods below, one per declared job type, named by its operation id
    (``transcribe``, ``generate_scenes``, ``generate_visual_prompts``, ``generate_images``,
    ``generate_video``): ``client.transcribe(project_id, audio_url=..., language="en")``.

    Errors (api.client.errors): NotFound, Conflict, ValidationFailed, Unauthorized,
    Forbidden, Unavailable (after the retries), ApiError for any other status; JobFailed,
    JobCancelled and WaitTimeout from :meth:`wait`. Use it as a context manager, or
    :meth:`close` it."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry_policy = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=calls.client_headers(token),
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- sending -------------------------------------------------------------------------

    def _try(self, call: Call, stream: bool, timeout: httpx.Timeout | None) -> httpx.Response:
        request = self._http.build_request(
            call.method,
            call.path,
            params=dict(call.params) if call.params else None,
            json=dict(call.json) if call.json is not None else None,
            headers=dict(call.headers),
            timeout=timeout or self.timeout,
        )
        response = self._http.send(request, stream=stream)
        if response.status_code >= 400:
            if stream:
                response.read()
                response.close()
            if response.status_code in RETRY_STATUSES:
                raise RetryableAnswer(response)
            raise error_for(response)
        return response

    def _send(
        self, call: Call, *, stream: bool = False, timeout: httpx.Timeout | None = None
    ) -> httpx.Response:
        """``call``'s answer (2xx), retried under the policy. Raises the ApiError of any
        other answer, Unavailable when every try got a 503/429 or no answer."""
        try:
            response: httpx.Response = retrying(self.retry_policy)(self._try, call, stream, timeout)
        except RetryableAnswer as answer:
            raise error_for(answer.response) from None
        except RETRY_ERRORS as error:
            raise Unavailable(None, message=f"no answer from {self.base_url}: {error!r}") from error
        return response

    def _json(self, call: Call) -> Any:
        """The JSON of ``call``'s answer (see :meth:`_send`)."""
        return self._send(call).json()

    # -- jobs ----------------------------------------------------------------------------

    def _submit_type(
        self, definition: JobTypeDefinition, project_id: str, given: Mapping[str, Any]
    ) -> JobAccepted:
        """A per-type method's work: split ``given`` into input, options and key, check the
        input and ``POST`` the typed route."""
        fields, options, key = calls.split_options(given)
        call = calls.typed_submission(definition, project_id, fields, options, key)
        return JobAccepted.model_validate(self._json(call))

    def submit(
        self,
        type: str,
        project_id: str,
        input: Mapping[str, Any],
        *,
        job_id: str | None = None,
        retries: int | None = None,
        timeout_seconds: int | None = None,
        pod_annotations: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> JobAccepted:
        """Submit a job of any declared ``type`` (``"transcription"`` or a ``JobType``) to
        ``project_id`` with ``input`` (the type's fields, snake_case or camelCase), through
        ``POST /v1/jobs``. Options: ``job_id`` (your UUID), ``retries``, ``timeout_seconds``
        (the run's deadline), ``pod_annotations``; ``idempotency_key`` (a new UUID4 by
        default) is sent on every try, so a retried call returns the job the first created
        (``replayed``). Returns the 202 answer (``id``, ``status_url``, ``phase``,
        ``replayed``). Raises ValidationFailed before sending for an unknown type or a bad
        input field (``field`` = ``input.<name>``), and what :meth:`get` raises, Conflict when
        the id or key was used for a different request."""
        options = calls.options_body(
            job_id=job_id,
            retries=retries,
            timeout_seconds=timeout_seconds,
            pod_annotations=pod_annotations,
        )
        call = calls.submission(type, project_id, input, options, idempotency_key)
        return JobAccepted.model_validate(self._json(call))

    def get(self, job_id: str) -> JobPublic:
        """The job's public view (phase, progress 0-100, attempts, reason, message, times,
        result). Raises NotFound (no such job, or another project's), Unauthorized,
        Unavailable."""
        return JobPublic.model_validate(self._json(calls.get_job(job_id)))

    def list(
        self,
        project_id: str | None = None,
        type: str | None = None,
        phase: str | None = None,
        limit: int | None = None,
        *,
        page_size: int = 100,
    ) -> Iterator[JobPublic]:
        """The jobs matching the filters (any of them may be left out; ``project_id`` only by
        a token of one project), page after page (``page_size`` each, 1-500), at most
        ``limit`` in all (every one when None). A generator: requests are made, and errors
        (NotFound for a project the token may not see, Unavailable) raised, while iterating."""
        cursor: str | None = None
        given = 0
        while limit is None or given < limit:
            size = page_size if limit is None else min(page_size, limit - given)
            call = calls.list_page(
                project_id=project_id, job_type=type, phase=phase, limit=size, cursor=cursor
            )
            page = JobsPublic.model_validate(self._json(call))
            for job in page.items[:size]:
                yield job
                given += 1
            if not page.next:
                return
            cursor = page.next

    def cancel(self, job_id: str) -> JobPublic:
        """Cancel the job (its pods stop; the phase becomes Cancelled shortly); the job as it is
        now. Raises Conflict once the job has ended, NotFound, Unavailable."""
        return JobPublic.model_validate(self._json(calls.job_action(job_id, "cancel")))

    def retry(self, job_id: str) -> JobPublic:
        """Start a new run of a Failed or Cancelled job; the job as it is now. Raises Conflict
        for a job in any other phase (or already being retried), NotFound, Unavailable."""
        return JobPublic.model_validate(self._json(calls.job_action(job_id, "retry")))

    def events(self, job_id: str, *, timeout: float | None = None) -> Iterator[JobPublic]:
        """The job's status each time it changes (the current one first), read from the API's
        server-sent events, until its phase is final (that status is the last one yielded) or
        ``timeout`` seconds have passed (then it simply stops). A stream that closes or breaks
        is opened again. Raises NotFound, Unauthorized, Unavailable (the stream could not be
        opened, or broke ``retry.attempts`` times in a row without a status)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = follow.Follower()
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            seconds = follow.stream_seconds(remaining)
            read = httpx.Timeout(self.timeout, read=seconds + follow.READ_MARGIN)
            call = calls.job_events(job_id, seconds)
            response = self._send(call, stream=True, timeout=read)
            seen.opened()
            try:
                for event in EventSource(response).iter_sse():
                    if event.event == "end":
                        return
                    if event.event == "status" and (job := seen.status(event.data)):
                        yield job
                        if follow.final(job):
                            return
            except RETRY_ERRORS as error:
                seen.broke(error)
            finally:
                response.close()
            seen.check(self.retry_policy, job_id)
            time.sleep(follow.reconnect_wait(self.retry_policy, seen.failures, deadline))

    def wait(self, job_id: str, timeout: float = 600.0) -> JobPublic:
        """Wait (following :meth:`events`) until the job ends, at most ``timeout`` seconds.
        Returns the final JobPublic when it Succeeded. Raises JobFailed (``.reason``,
        ``.message``, ``.job``) when it Failed, JobCancelled when it was Cancelled,
        WaitTimeout (a TimeoutError, ``.job`` the last status seen) when it had not ended in
        time, and what :meth:`events` raises."""
        last: JobPublic | None = None
        for job in self.events(job_id, timeout=timeout):
            last = job
            if follow.final(job):
                return follow.outcome(job)
        raise WaitTimeout(job_id, timeout, last)

    # -- pipelines -----------------------------------------------------------------------

    def submit_pipeline(
        self,
        project_id: str,
        audio_url: str,
        steps: Sequence[str] | None = None,
        *,
        language: str | None = None,
        retries: int | None = None,
        timeout_seconds: int | None = None,
        pod_annotations: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> PipelineAccepted:
        """Submit a pipeline: one job per step of ``steps`` (a prefix of transcription,
        scene-generation, visual-prompts, image-generation, video-generation; all by default)
        for ``audio_url``, each starting when the one before succeeded. ``retries``,
        ``timeout_seconds`` and ``pod_annotations`` apply to every step; ``idempotency_key`` (a
        new UUID4 by default) is reused on every try. Returns the 202 answer (the pipeline id,
        each step's type and job id). Raises ValidationFailed (before sending, for ``steps``
        that are not such a prefix), Conflict (the key was used for another request),
        Unavailable (``pipeline_incomplete``: call again with the same key to complete it)."""
        call = calls.pipeline_submission(
            project_id,
            audio_url,
            steps,
            language=language,
            retries=retries,
            timeout_seconds=timeout_seconds,
            pod_annotations=pod_annotations,
            key=idempotency_key,
        )
        return PipelineAccepted.model_validate(self._json(call))

    def get_pipeline(self, pipeline_id: str) -> PipelinePublic:
        """The pipeline: its phase and each step's JobPublic, in order. Raises NotFound,
        Unavailable."""
        return PipelinePublic.model_validate(self._json(calls.get_pipeline(pipeline_id)))

    def cancel_pipeline(self, pipeline_id: str) -> PipelinePublic:
        """Cancel every unfinished step; the pipeline as it is now. Raises Conflict when every
        step has ended, NotFound, Unavailable."""
        call = calls.pipeline_action(pipeline_id, "cancel")
        return PipelinePublic.model_validate(self._json(call))

    def retry_pipeline(self, pipeline_id: str) -> PipelinePublic:
        """Retry every Failed or Cancelled step, upstream first; the pipeline as it is now.
        Raises Conflict when no step failed or was cancelled, NotFound, Unavailable."""
        call = calls.pipeline_action(pipeline_id, "retry")
        return PipelinePublic.model_validate(self._json(call))


check_names(OmveeClient)  # a job type's method must not hide one of the client's
