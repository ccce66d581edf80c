"""Pure: deterministic names for the objects the operator creates."""

from __future__ import annotations

import hashlib

# Job names become the `batch.kubernetes.io/job-name` label on pods, and label values are at
# most 63 characters.
MAX_NAME = 63


def job_name(omveejob: str, run: int) -> str:
    """``<omveejob>-r<run>``; a long name is cut and made unique with a hash of the whole."""
    suffix = f"-r{run}"
    name = omveejob + suffix
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(omveejob.encode()).hexdigest()[:8]
    keep = MAX_NAME - len(suffix) - len(digest) - 1
    return f"{omveejob[:keep].rstrip('-')}-{digest}{suffix}"
