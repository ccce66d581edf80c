"""Pure: an OmveeJob run + its type's profile -> the batch/v1 Job manifest."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from api.catalog.profiles import JobProfile
from api.v1alpha1 import constants
from api.v1alpha1.types import OmveeJobSpec

# The container runs as this uid; images are built for it (jobimages/*/Dockerfile).
RUN_AS_USER = 10001
# Where a volume results store is mounted in every job container ($OMVEE_RESULTS_DIR there).
# The same path in every pod, so that a file:// location one job stores another job reads.
RESULTS_MOUNT_PATH = "/var/lib/omvee/results"
RESULTS_VOLUME = "results"


@dataclass(frozen=True)
class ResultsStore:
    """Where job containers store their result files.

    ``volume``: a host directory (``host_path``, one machine; it must exist, writable for uid
    10001 or its group) or a ReadWriteMany PersistentVolumeClaim (``claim``), mounted at
    RESULTS_MOUNT_PATH. ``supabase``: Supabase Storage bucket ``bucket``, with SUPABASE_URL and
    SUPABASE_SERVICE_ROLE_KEY taken from the Secret ``secret`` (keys of those names)."""

    kind: Literal["volume", "supabase"]
    host_path: str = ""
    claim: str = ""
    secret: str = ""
    bucket: str = "job-results"


def results_pod_parts(
    store: ResultsStore | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volume mounts, env) that give a job container ``store``; all empty for None
    (results then land in the pod's /tmp and are lost with it)."""
    if store is None:
        return [], [], []
    if store.kind == "supabase":
        env: list[dict[str, Any]] = [
            {"name": "OMVEE_RESULTS", "value": "supabase"},
            {"name": "OMVEE_RESULTS_BUCKET", "value": store.bucket},
            *(
                {
                    "name": name,
                    "valueFrom": {"secretKeyRef": {"name": store.secret, "key": name}},
                }
                for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY")
            ),
        ]
        return [], [], env
    source: dict[str, Any] = (
        {"persistentVolumeClaim": {"claimName": store.claim}}
        if store.claim
        else {"hostPath": {"path": store.host_path, "type": "Directory"}}
    )
    return (
        [{"name": RESULTS_VOLUME, **source}],
        [{"name": RESULTS_VOLUME, "mountPath": RESULTS_MOUNT_PATH}],
        [{"name": "OMVEE_RESULTS_DIR", "value": RESULTS_MOUNT_PATH}],
    )


def job_labels(name: str, spec: OmveeJobSpec, run: int) -> dict[str, str]:
    """{label key: value} on a run's Job and pods: the OmveeJob ``name``, type, project, job id,
    ``run`` and managed-by; selectors and the cache's indexes read them."""
    return {
        constants.LABEL_OMVEEJOB: name,
        constants.LABEL_TYPE: spec.type.value,
        constants.LABEL_PROJECT_ID: spec.project_id,
        constants.LABEL_JOB_ID: spec.job_id,
        constants.LABEL_RUN: str(run),
        constants.LABEL_MANAGED_BY: constants.MANAGED_BY,
    }


def job_document(name: str, namespace: str, spec: OmveeJobSpec, run: int) -> str:
    """What the job container reads from $OMVEE_JOB."""
    return json.dumps(
        {
            "name": name,
            "namespace": namespace,
            "run": run,
            "type": spec.type.value,
            "projectId": spec.project_id,
            "jobId": spec.job_id,
            "input": spec.input,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def pod_failure_policy() -> dict[str, Any]:
    """A Job's ``podFailurePolicy``: fail the Job on the permanent-failure exit code, and do
    not count a disruption (drain, eviction) as a failed attempt."""
    return {
        "rules": [
            # Retrying cannot fix bad input: fail the Job on the first such exit.
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": constants.CONTAINER_NAME,
                    "operator": "In",
                    "values": [constants.PERMANENT_FAILURE_EXIT_CODE],
                },
            },
            # A drained node or an eviction is not the job's fault: do not count it as a retry.
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }


def build_job(
    *,
    name: str,
    namespace: str,
    uid: str,
    job_name: str,
    spec: OmveeJobSpec,
    run: int,
    profile: JobProfile,
    extra_env: Sequence[tuple[str, str]] = (),
    results: ResultsStore | None = None,
) -> dict[str, Any]:
    """The batch/v1 Job of one run; ``extra_env`` is (name, value) pairs every job container
    gets as well (the operator's job_env: the URL policy); ``results`` is the store its result
    files go to (see ``results_pod_parts``); the profile's ``env`` comes last (its names never
    clash with these: api.catalog.profiles.OPERATOR_ENV)."""
    labels = job_labels(name, spec, run)
    results_volumes, results_mounts, results_env = results_pod_parts(results)
    container: dict[str, Any] = {
        "name": constants.CONTAINER_NAME,
        "image": profile.image,
        "command": profile.command,
        "env": [
            {"name": constants.ENV_JOB, "value": job_document(name, namespace, spec, run)},
            {"name": "OMVEE_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "TMPDIR", "value": "/tmp"},
            *({"name": key, "value": value} for key, value in extra_env),
            *results_env,
            # the type's own settings (the image backend...); the profile names none of the above
            *({"name": key, "value": value} for key, value in profile.env.items()),
        ],
        "resources": profile.resources.model_dump(exclude_defaults=True),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *results_mounts],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if profile.args:
        container["args"] = profile.args
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": profile.service_account_name,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}, *results_volumes],
    }
    if profile.node_selector:
        pod_spec["nodeSelector"] = profile.node_selector
    if profile.tolerations:
        pod_spec["tolerations"] = [
            t.model_dump(exclude_none=True, by_alias=True) for t in profile.tolerations
        ]
    template_metadata: dict[str, Any] = {"labels": labels}
    if spec.pod_annotations:
        template_metadata["annotations"] = dict(spec.pod_annotations)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": constants.API_VERSION,
                    "kind": constants.KIND,
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": spec.retries if spec.retries is not None else profile.retries,
            "activeDeadlineSeconds": spec.timeout_seconds or profile.timeout_seconds,
            "ttlSecondsAfterFinished": profile.ttl_seconds_after_finished,
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": pod_failure_policy(),
            "template": {"metadata": template_metadata, "spec": pod_spec},
        },
    }
