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

from api.v1alpha1.reasons import Reason

# A refusal that cannot heal fails the run only when the Job controller refuses again this long
# or more after the Job's creation: the missing ServiceAccount may be created by the same
# `kubectl apply` a moment later, and the controller's next retry (its backoff doubles from 1 s)
# then goes through.
PERMANENT_GRACE_SECONDS = 30

# The reasons a refusal reads as (api.v1alpha1.reasons.Reason says what each means). Pod
# creation: QUOTA_EXCEEDED and POD_CREATION_BLOCKED wait, POD_CREATION_REFUSED fails after the
# grace. The operator's own create of the run's Job: QUOTA_EXCEEDED and JOB_CREATION_BLOCKED
# wait, JOB_REFUSED fails. These names are kept for their callers.
REASON_QUOTA = Reason.QUOTA_EXCEEDED
REASON_BLOCKED = Reason.POD_CREATION_BLOCKED
REASON_REFUSED = Reason.POD_CREATION_REFUSED
# Reasons of a run whose Job the API server refuses for now: the pending timeout ends the wait.
JOB_CREATE_WAITS = frozenset({Reason.QUOTA_EXCEEDED, Reason.JOB_CREATION_BLOCKED})

_SERVICE_ACCOUNT = re.compile(r'serviceaccount "?([a-z0-9.-]+)"? not found')
# Events the recorder folds together start "(combined from similar events): ".
_PREFIX = re.compile(
    r'^(\(combined from similar events\):\s*)?Error creating:\s*(pods "[^"]*" is forbidden:\s*)?'
)


@dataclass(frozen=True)
class Refusal:
    """One reading of a FailedCreate message.

    ``reason`` is QuotaExceeded, PodCreationBlocked or PodCreationRefused (a pod's creation),
    or QuotaExceeded, JobCreationBlocked or JobRefused (the Job's); ``message`` is the
    sentence for status.message; ``permanent`` says waiting cannot heal it.
    """

    reason: Reason
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
            Reason.POD_CREATION_REFUSED,
            f"cannot create pods: serviceaccount {account} not found in namespace "
            f"{namespace}{hint}",
            permanent=True,
        )
    if "quota" in lowered:  # exceeded, or not yet counted ("status unknown for quota")
        return Refusal(
            Reason.QUOTA_EXCEEDED, f"waiting for quota: cannot create pods: {detail}", False
        )
    if "failed calling webhook" in lowered:  # the webhook is down or slow: it may come back
        return Refusal(
            Reason.POD_CREATION_BLOCKED,
            f"waiting for an admission webhook: cannot create pods: {detail}",
            False,
        )
    if (
        "is forbidden" in event_message
        or "is invalid" in event_message
        or "denied the request" in lowered
    ):
        # PodSecurity, a LimitRange, a webhook's denial, a rejected field: the same pod is
        # refused the same way every time.
        return Refusal(Reason.POD_CREATION_REFUSED, f"cannot create pods: {detail}", True)
    return Refusal(Reason.POD_CREATION_BLOCKED, f"cannot create pods: {detail}", False)


def classify_job_refusal(status_code: int, api_message: str) -> Refusal:
    """Sort the API server's refusal (HTTP ``status_code``, its Status ``message``) of the
    operator's create of a run's Job. A quota or a right the operator lacks can be fixed while
    the job waits; an invalid Job or a webhook's denial is refused the same way every time."""
    lowered = api_message.lower()
    if "quota" in lowered:
        return Refusal(
            Reason.QUOTA_EXCEEDED,
            f"waiting for quota: cannot create the Job: {api_message}",
            False,
        )
    if status_code == 422 or "denied the request" in lowered:
        return Refusal(Reason.JOB_REFUSED, f"the API server refused the Job: {api_message}", True)
    return Refusal(Reason.JOB_CREATION_BLOCKED, f"cannot create the Job: {api_message}", False)
