"""Names that make up the OmveeJob contract: API group, labels, annotations, exit codes."""

from __future__ import annotations

# Supabase row ids (jobs.id, projects.id) are UUIDs.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

GROUP = "omvee.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "OmveeJob"
PLURAL = "omveejobs"
SINGULAR = "omveejob"
SHORT_NAMES = ("ojob",)

# Labels the operator puts on every Job and pod it creates.
LABEL_OMVEEJOB = f"{GROUP}/omveejob"  # the owning OmveeJob's name (names are <= 63 chars)
LABEL_TYPE = f"{GROUP}/type"
LABEL_PROJECT_ID = f"{GROUP}/project-id"
LABEL_JOB_ID = f"{GROUP}/job-id"
LABEL_RUN = f"{GROUP}/run"  # which run of the OmveeJob (0, then 1 after the first retry ...)
# The API puts this on each OmveeJob of a pipeline it creates (its spec.pipelineId): select a
# pipeline's steps with `kubectl get ojob -l omvee.io/pipeline-id=<id>`.
LABEL_PIPELINE_ID = f"{GROUP}/pipeline-id"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "omvee-operator"

# A job container exits with this code when retrying cannot help (bad input, unsupported media).
# The Job's podFailurePolicy fails the Job at once on it. Mirrors sysexits' EX_DATAERR.
PERMANENT_FAILURE_EXIT_CODE = 65

# The job container's name in every pod, and the environment variable holding the job as JSON.
CONTAINER_NAME = "job"
ENV_JOB = "OMVEE_JOB"

# Condition types in OmveeJob status.conditions.
CONDITION_SCHEDULED = "Scheduled"  # a pod of the current attempt has a node
CONDITION_RUNNING = "Running"  # a pod of the current attempt runs
CONDITION_FINISHED = "Finished"  # reason: Succeeded, Failed or Cancelled
