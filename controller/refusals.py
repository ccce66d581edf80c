"""Pure: why the Job controller cannot create a run's pod, read from its ``FailedCreate`` Event.

The Job controller keeps retrying a refused pod creation and says why only in Events on the
Job (reason ``FailedCreate``, message ``Error creating: <the API server's answer>``); the Job's
own status does not change. Each refusal is sorted into one that waiting can heal (a
ResourceQuota that frees up, a webhook that is down) and one it cannot (a missing
ServiceAccount, PodSecurity admission, a LimitRange, a webhook's denial), so the OmveeJob says
what it waits for or ends instead of waiting out its pending timeout.

Message shapes are the API server's (k8s.io/apiserver admission errors, kubernetes
plugin/pkg/admission/{serviceaccount,resourcequota,limitranger}, pod-security-admission).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A refusal that cannot heal fails the run only when the Job controller refuses again this long
# or more after the Job's creation: the missing ServiceAccount may be created by the same
# `kubectl apply` a moment later, and the controller's next retry (its backoff doubles from 1 s)
# then goes through.
PERMANENT_GRACE_SECONDS = 30

REASON_QUOTA = "QuotaExceeded"  # Pending: waits for quota (healable)
REASON_BLOCKED = "PodCreationBlocked"  # Pending: refused for a reason that may pass
REASON_REFUSED = "PodCreationRefused"  # refused for a reason waiting cannot fix
# The operator's own create of the run's Job refused by the API server:
REASON_JOB_BLOCKED = "JobCreationBlocked"  # Pending: a quota on Jobs, our own RBAC, a webhook down
REASON_JOB_REFUSED = "JobRefused"  # Failed: the Job is invalid or a webhook denied it
# Reasons of a run whose Job the API server refuses for now: the pending timeout ends the wait.
JOB_CREATE_WAITS = frozenset({REASON_QUOTA, REASON_JOB_BLOCKED})

_SERVICE_ACCOUNT = re.compile(r'serviceaccount "?([a-z0-9.-]+)"? not found')
# Events the recorder folds together start "(combined from similar events): ".
_PREFIX = re.compile(
    r'^(\(combined from similar events\):\s*)?Error creating:\s*(pods "[^"]*" is forbidden:\s*)?'
)


@dataclass(frozen=True)
class Refusal:
    """One reading of a FailedCreate message.

    ``reason`` is one of the REASON_* constants above; ``message`` is the sentence for
    status.message; ``permanent`` says waiting cannot heal it.
    """

    reason: str
    message: str
    permanent: bool


def _detail(event_message: str) -> str:
    return _PREFIX.sub("", event_message.strip()).strip()


def classify(event_message: str, namespace: str, service_account: str) -> Refusal:
    """Sort the Job controller's ``FailedCreate`` message for a pod of ``namespace`` that runs
    as ``service_account``.

    Returns a Refusal whose message says "cannot create pods: <the API server's reason>" and,
    where we know it, what to do.
    """
    detail = _detail(event_message)
    lowered = detail.lower()
    if match := _SERVICE_ACCOUNT.search(lowered):
        account = match.group(1)
        hint = (
            "; apply charts/omvee/examples/job-runner-rbac.yaml in it"
            if account == service_account
            else ""
        )
        return Refusal(
            REASON_REFUSED,
            f"cannot create pods: serviceaccount {account} not found in namespace "
            f"{namespace}{hint}",
            permanent=True,
        )
    if "quota" in lowered:  # exceeded, or not yet counted ("status unknown for quota")
        return Refusal(REASON_QUOTA, f"waiting for quota: cannot create pods: {detail}", False)
    if "failed calling webhook" in lowered:  # the webhook is down or slow: it may come back
        return Refusal(
            REASON_BLOCKED, f"waiting for an admission webhook: cannot create pods: {detail}", False
        )
    if (
        "is forbidden" in event_message
        or "is invalid" in event_message
        or "denied the request" in lowered
    ):
        # PodSecurity, a LimitRange, a webhook's denial, a rejected field: the same pod is
        # refused the same way every time.
        return Refusal(REASON_REFUSED, f"cannot create pods: {detail}", True)
    return Refusal(REASON_BLOCKED, f"cannot create pods: {detail}", False)


def classify_job_refusal(status_code: int, api_message: str) -> Refusal:
    """Sort the API server's refusal (HTTP ``status_code``, its Status ``message``) of the
    operator's create of a run's Job. A quota or a right the operator lacks can be fixed while
    the job waits; an invalid Job or a webhook's denial is refused the same way every time."""
    lowered = api_message.lower()
    if "quota" in lowered:
        return Refusal(
            REASON_QUOTA, f"waiting for quota: cannot create the Job: {api_message}", False
        )
    if status_code == 422 or "denied the request" in lowered:
        return Refusal(REASON_JOB_REFUSED, f"the API server refused the Job: {api_message}", True)
    return Refusal(REASON_JOB_BLOCKED, f"cannot create the Job: {api_message}", False)
