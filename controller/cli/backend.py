"""What every command needs from where the jobs live: the cluster or the REST API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

from controller.cli.stats import Placement

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
UUID = re.compile(_UUID)
GENERATED_NAME = re.compile(f"job-({_UUID})")


class CliError(Exception):
    """Something the user should read as one line; the command exits 1."""


def job_id_of(ref: str) -> str | None:
    """The job id in ``ref``: a UUID itself, or the UUID in a ``job-<uuid>`` name."""
    if UUID.fullmatch(ref):
        return ref.lower()
    match = GENERATED_NAME.fullmatch(ref)
    return match.group(1).lower() if match else None


class Backend(Protocol):
    """Jobs are public job views (``JobPublic`` as JSON); the cluster adds ``namespace`` and
    ``name``. ``ref`` is a job id or an OmveeJob name."""

    def list_jobs(
        self, *, project: str | None, job_type: str | None, phase: str | None
    ) -> list[dict[str, Any]]:
        """Every job matching the filters (None: any), in no particular order; CliError when
        the backend cannot be read."""
        ...

    def get_job(self, ref: str) -> dict[str, Any]:
        """The job ``ref`` names; CliError when there is none or it cannot be read."""
        ...

    def cancel(self, ref: str) -> dict[str, Any]:
        """Ask for the job to be cancelled; returns it as it is now. CliError when there is no
        such job or it cannot be cancelled (e.g. it has ended)."""
        ...

    def retry(self, ref: str) -> dict[str, Any]:
        """Ask for a new run of an ended job; returns it as it is now (its status still that
        of the last run). CliError when there is no such job or it cannot be retried."""
        ...

    def logs(self, ref: str, attempt: int | None, follow: bool) -> Iterator[bytes]:
        """The log of attempt ``attempt`` (1-based; the latest when None) of the job's current
        run, in chunks; with ``follow``, until the pod ends. CliError when there is none."""
        ...

    def result(self, ref: str, name: str) -> Iterator[bytes]:
        """The bytes of the job's result file ``name`` (a key of its ``result_links``);
        CliError when there is none or it cannot be read from here."""
        ...

    def watch(self, ref: str) -> Iterator[dict[str, Any]]:
        """The job now, then each time it changes; the caller stops once it is final."""
        ...

    def placement(self) -> Placement | None:
        """Nodes and the pods on them, where this backend can see them."""
        ...

    def list_pipelines(self, *, project: str | None) -> list[dict[str, Any]]:
        """Pipeline summaries (``GET /v1/pipelines``'s items; the cluster adds ``namespace``),
        newest first; CliError when the backend cannot be read."""
        ...

    def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        """The pipeline (``GET /v1/pipelines/{id}``'s view; the cluster adds namespaces and
        names); CliError when there is none."""
        ...
