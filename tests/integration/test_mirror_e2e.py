"""The operator mirrors every OmveeJob into PostgreSQL, and converges after an outage."""

from __future__ import annotations

import random
import time
from datetime import datetime
from typing import Any

import psycopg
import pytest
from kubernetes import client

from controller.mirror.rows import STATUS_BY_PHASE
from tests import factories
from tests.localpostgres import LocalPostgres
from tests.omveejobs import FINAL, OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


@pytest.fixture
def ojobs(k8s: client.ApiClient, job_namespace: str, operator: OperatorProcess) -> OmveeJobs:
    return OmveeJobs(k8s, job_namespace)


def fetch_row(dsn: str, job_id: str) -> dict[str, Any] | None:
    with psycopg.connect(dsn) as connection:
        cursor = connection.execute("select * from public.jobs where id = %s", [job_id])
        names = [c.name for c in cursor.description or []]
        found = cursor.fetchone()
    return dict(zip(names, found, strict=True)) if found else None


def history(dsn: str, job_id: str) -> list[str]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "select status from jobs_history where id = %s order by at", [job_id]
        ).fetchall()
    return [r[0] for r in rows]


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def mismatch(row: dict[str, Any] | None, ojob: dict[str, Any]) -> str | None:
    """What differs between a row and its OmveeJob; None when the row is current."""
    if row is None:
        return "no row"
    status = ojob.get("status") or {}
    want = {
        "status": STATUS_BY_PHASE[status.get("phase")],
        "progress": int(status.get("progress") or 0),
        "attempts": int(status.get("attempts") or 0),
        "message": status.get("message"),
        "reason": status.get("reason"),
        "k8s_node_name": status.get("nodeName"),
        "started_at": _time(status.get("startedAt")),
        "finished_at": _time(status.get("finishedAt")),
    }
    got = {key: _time(row[key]) if key.endswith("_at") else row[key] for key in want}
    return None if got == want else f"row {got} != OmveeJob {want}"


def wait_row_current(ojobs: OmveeJobs, dsn: str, name: str, timeout: float = 30) -> None:
    def current() -> bool:
        ojob = ojobs.get(name)
        return mismatch(fetch_row(dsn, ojob["spec"]["jobId"]), ojob) is None

    try:
        wait_for(current, f"the row of {name} to match it", timeout)
    except Exception as error:
        ojob = ojobs.get(name)
        raise AssertionError(
            f"{error}: {mismatch(fetch_row(dsn, ojob['spec']['jobId']), ojob)}"
        ) from None


def test_row_goes_queued_running_succeeded_with_progress(
    ojobs: OmveeJobs, operator_mirror_dsn: str, k8s: client.ApiClient
) -> None:
    body = manifest("mirrored", pod_annotations=factories.pod_annotations(run_duration="6s"))
    job_id = body["spec"]["jobId"]
    ojobs.create(body)
    ojobs.wait_status("mirrored", "Running", lambda s: s.get("phase") == "Running")
    as_pod = client.ApiClient(k8s.configuration)
    as_pod.set_default_header(
        "Impersonate-User", f"system:serviceaccount:{ojobs.namespace}:omvee-job-runner"
    )
    client.CustomObjectsApi(as_pod).patch_namespaced_custom_object_status(
        "omvee.io",
        "v1alpha1",
        ojobs.namespace,
        "omveejobs",
        "mirrored",
        {"status": {"progress": 55, "progressMessage": "halfway"}},
    )
    wait_for(
        lambda: (fetch_row(operator_mirror_dsn, job_id) or {}).get("progress") == 55,
        "the pod's progress to reach the row",
        15,
    )
    assert fetch_row(operator_mirror_dsn, job_id)["progress_message"] == "halfway"  # type: ignore[index]

    ojobs.wait_final("mirrored")
    wait_row_current(ojobs, operator_mirror_dsn, "mirrored")
    row = fetch_row(operator_mirror_dsn, job_id)
    assert row is not None
    assert (row["status"], row["progress"], row["attempts"]) == ("succeeded", 100, 1)
    assert row["k8s_job_name"] == "mirrored-r0"
    assert history(operator_mirror_dsn, job_id) == ["queued", "running", "succeeded"]


def test_failed_row_carries_the_same_message(ojobs: OmveeJobs, operator_mirror_dsn: str) -> None:
    body = manifest(
        "mirrored-fail", retries=0, pod_annotations=factories.pod_annotations(exit_code=1)
    )
    ojobs.create(body)
    status = ojobs.wait_final("mirrored-fail")
    wait_row_current(ojobs, operator_mirror_dsn, "mirrored-fail")
    row = fetch_row(operator_mirror_dsn, body["spec"]["jobId"])
    assert row is not None
    assert row["status"] == "failed"
    assert row["message"] == row["error"] == status["message"] == "failed 1 times, last exit code 1"


def test_database_outage_of_30s_converges(
    ojobs: OmveeJobs,
    operator_mirror_dsn: str,
    local_postgres: LocalPostgres,
    operator: OperatorProcess,
) -> None:
    rng = random.Random(11)
    names = []
    for i in range(50):
        duration = f"{rng.randint(2, 40)}s"
        ojobs.create(
            manifest(
                f"outage-{i}", pod_annotations=factories.pod_annotations(run_duration=duration)
            )
        )
        names.append(f"outage-{i}")
    wait_for(lambda: all(ojobs.status(n).get("jobName") for n in names), "50 Jobs", 60)

    log_before = operator.log.read_text(errors="replace")
    local_postgres.down(remove_data=False)
    try:
        time.sleep(30)  # the outage itself: jobs go on running and finishing meanwhile
        assert operator.process is not None and operator.process.poll() is None
        finished_during = sum(1 for n in names if ojobs.status(n).get("phase") in FINAL)
    finally:
        local_postgres.up()

    wait_for(
        lambda: all(ojobs.status(n).get("phase") in FINAL for n in names),
        "all 50 jobs to finish",
        120,
    )
    for name in names:
        wait_row_current(ojobs, operator_mirror_dsn, name, timeout=60)
    assert operator.process is not None and operator.process.poll() is None
    log = operator.log.read_text(errors="replace")[len(log_before) :]
    assert "Mirror is behind: cannot write to PostgreSQL 127.0.0.1" in log
    assert "Mirror caught up after" in log
    assert finished_during > 0
