"""Pure: which result files a job produced, where they lie in the results store, and the REST
links users open them with.

Job containers store each file under the key ``<project>/<job>/run-<n>/<file>``
(``jobimages.runtime.run.Context.key``) and name its location in ``status.result``: a
``file://`` path inside the results volume, or a Supabase Storage URL. A job pod may write its
own status, so a location is never trusted as a path: only its last four segments are used, and
only when they name this job's own project and job id. The API rebuilds the key from them and
reads it from its own view of the store.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

# A result file name: one path segment, no leading dot (no "..", no hidden files), no
# separators or control characters once URL-decoded.
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")
_RUN = re.compile(r"run-(\d{1,6})")


def result_key(project_id: str, job_id: str, run_folder: str, name: str) -> str:
    """The store key of one result file: ``<project>/<job>/run-<n>/<name>``."""
    return f"{project_id}/{job_id}/{run_folder}/{name}"


def _locations(value: Any) -> list[str]:
    """Every string in a result (nested dicts and lists), in order."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _locations(item)]
    if isinstance(value, list):
        return [s for item in value for s in _locations(item)]
    return []


def _parse(location: str, project_id: str, job_id: str) -> tuple[str, str] | None:
    """(run folder, file name) when ``location`` names a file of this job's own folder."""
    parts = urlsplit(location)
    if parts.scheme not in ("file", "http", "https"):
        return None
    segments = [unquote(s) for s in parts.path.split("/")]
    if len(segments) < 4:
        return None
    project, job, run, name = segments[-4:]
    if project.lower() != project_id.lower() or job.lower() != job_id.lower():
        return None
    if not _RUN.fullmatch(run) or not FILE_NAME.fullmatch(name) or ".." in name:
        return None
    return run, name


def result_files(project_id: str, job_id: str, result: dict[str, Any] | None) -> dict[str, str]:
    """File name -> store key, for each file ``result`` names inside the job's own folder
    (locations elsewhere are left out). Empty for no result."""
    files: dict[str, str] = {}
    for location in _locations((result or {}).get("files")):
        parsed = _parse(location, project_id, job_id)
        if parsed:
            files.setdefault(parsed[1], result_key(project_id, job_id, *parsed))
    return files


def run_folders(project_id: str, job_id: str, result: dict[str, Any] | None) -> set[str]:
    """The run folders (``run-<n>``) the result's files lie in; a file the job stored there
    but did not name (an image listed in images.json) may be read too."""
    return {
        parsed[0]
        for location in _locations((result or {}).get("files"))
        if (parsed := _parse(location, project_id, job_id))
    }


def result_link(job_id: str, name: str) -> str:
    """The REST path that serves one result file of a job (relative to the API's base URL)."""
    return f"/v1/jobs/{job_id}/results/{name}"


def result_links(project_id: str, job_id: str, result: dict[str, Any] | None) -> dict[str, str]:
    """File name -> REST path, for each file the job's result names (see ``result_files``)."""
    return {name: result_link(job_id, name) for name in result_files(project_id, job_id, result)}
