"""The API backend: the same commands through the REST API with a bearer token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from controller.cli.backend import CliError, job_id_of
from controller.cli.stats import Placement

PAGE = 500
EVENTS_TIMEOUT = 3600  # the API ends an event stream after this; we open another


def problem(response: httpx.Response) -> str:
    """The API's error answer as one sentence."""
    try:
        body = response.json()
    except ValueError:
        return f"the API answered {response.status_code} {response.reason_phrase}"
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in body["detail"]
        )
    return f"the API answered {response.status_code} {response.reason_phrase}"


class ApiBackend:
    """``Backend`` over the REST API at ``url`` (bearer ``token``; 30 s timeouts). Every method
    raises CliError on an error answer; httpx errors (unreachable, timed out) propagate."""

    def __init__(self, url: str, token: str | None, http: httpx.Client | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.http = http or httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code == 401:
            raise CliError(f"the API refused the token: {problem(response)}")
        if response.status_code >= 400:
            raise CliError(problem(response))
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._check(self.http.request(method, path, **kwargs)).json()

    @staticmethod
    def _id(ref: str) -> str:
        job_id = job_id_of(ref)
        if job_id is None:
            raise CliError(f"no job {ref}: the API knows jobs by their id (a UUID)")
        return job_id

    def list_jobs(
        self, *, project: str | None, job_type: str | None, phase: str | None
    ) -> list[dict[str, Any]]:
        """Backend.list_jobs: every page of GET /v1/jobs (500 a page)."""
        params = {"project_id": project, "type": job_type, "phase": phase, "limit": PAGE}
        jobs: list[dict[str, Any]] = []
        while True:
            page = self._json(
                "GET", "/v1/jobs", params={k: v for k, v in params.items() if v is not None}
            )
            jobs.extend(page["items"])
            if not page.get("next"):
                return jobs
            params["cursor"] = page["next"]

    def get_job(self, ref: str) -> dict[str, Any]:
        """Backend.get_job; CliError also when ``ref`` is not a job id (a UUID)."""
        found: dict[str, Any] = self._json("GET", f"/v1/jobs/{self._id(ref)}")
        return found

    def cancel(self, ref: str) -> dict[str, Any]:
        """Backend.cancel: POST /v1/jobs/{id}/cancel."""
        done: dict[str, Any] = self._json("POST", f"/v1/jobs/{self._id(ref)}/cancel")
        return done

    def retry(self, ref: str) -> dict[str, Any]:
        """Backend.retry: POST /v1/jobs/{id}/retry."""
        done: dict[str, Any] = self._json("POST", f"/v1/jobs/{self._id(ref)}/retry")
        return done

    def logs(self, ref: str, attempt: int | None, follow: bool) -> Iterator[bytes]:
        """Backend.logs: GET /v1/jobs/{id}/logs streamed (no read timeout when following)."""
        params: dict[str, Any] = {"follow": str(follow).lower()}
        if attempt is not None:
            params["attempt"] = attempt
        path = f"/v1/jobs/{self._id(ref)}/logs"
        with self.http.stream(
            "GET", path, params=params, timeout=httpx.Timeout(30, read=None if follow else 30)
        ) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            yield from response.iter_bytes()

    def result(self, ref: str, name: str) -> Iterator[bytes]:
        """Backend.result: GET /v1/jobs/{id}/results/{name} streamed."""
        path = f"/v1/jobs/{self._id(ref)}/results/{quote(name, safe='')}"
        with self.http.stream("GET", path) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            yield from response.iter_bytes()

    def watch(self, ref: str) -> Iterator[dict[str, Any]]:
        """Backend.watch: each ``status`` event of GET /v1/jobs/{id}/events, reconnecting when
        the API ends a stream (every 3600 s), until its ``end`` event."""
        path = f"/v1/jobs/{self._id(ref)}/events"
        while True:  # the API closes a stream after its timeout; reconnect until final
            with self.http.stream(
                "GET",
                path,
                params={"timeout": EVENTS_TIMEOUT},
                timeout=httpx.Timeout(30, read=None),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check(response)
                for event, data in server_sent_events(response.iter_lines()):
                    if event == "status":
                        yield json.loads(data)
                    elif event == "end":
                        return

    def list_pipelines(self, *, project: str | None) -> list[dict[str, Any]]:
        """Backend.list_pipelines: GET /v1/pipelines."""
        params = {"project_id": project} if project else {}
        found: list[dict[str, Any]] = self._json("GET", "/v1/pipelines", params=params)["items"]
        return found

    def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        """Backend.get_pipeline: GET /v1/pipelines/{id}."""
        found: dict[str, Any] = self._json("GET", f"/v1/pipelines/{pipeline_id}")
        return found

    def placement(self) -> Placement | None:
        """Always None: the API shows no nodes or pods."""
        return None  # the API sees only its own namespace: no nodes, no GPU use


def server_sent_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) for each event in a text/event-stream."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield event, "\n".join(data)
