"""What a job container's exit code means to the operator's podFailurePolicy."""

from __future__ import annotations

from api.v1alpha1.constants import PERMANENT_FAILURE_EXIT_CODE

SUCCESS = 0
# Bad input, unsupported media: retrying cannot help; the Job fails at once (sysexits EX_DATAERR).
PERMANENT = PERMANENT_FAILURE_EXIT_CODE
# Anything else worth another attempt: network trouble, a killed download, SIGTERM
# (sysexits EX_TEMPFAIL).
RETRYABLE = 75


class JobError(Exception):
    """A failure with a sentence a person understands and the exit code it maps to."""

    exit_code = RETRYABLE


class PermanentError(JobError):
    """A failure retrying cannot help (bad input, unsupported media): exit 65, the Job fails
    at once."""

    exit_code = PERMANENT


class RetryableError(JobError):
    """A failure worth another attempt (network trouble, a killed download): exit 75."""

    exit_code = RETRYABLE
