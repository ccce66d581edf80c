"""A row the real PostgreSQL refuses holds up no other row: it is set aside, logged once with
the job id and the database's message, counted as Rejected, and retried on its own. What the
database cannot store at all (U+0000) is replaced, and said."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from api.v1alpha1 import constants
from controller.metrics.registry import OperatorMetrics
from controller.mirror.sinks import PostgresSink
from controller.mirror.writer import MirrorWriter
from tests import factories
from tests.omveejobs import FINAL, OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

PROJECT = str(uuid.uuid4())
TYPE_REFUSED = 'new row for relation "jobs" violates check constraint "jobs_type_check"'


def row(job_id: str, revision: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "project_id": PROJECT,
        "type": "transcription",
        "status": "succeeded",
        "progress": 100,
        "attempts": 1,
        "run": 0,
        "revision": revision,
        "message": "done",
        "input": {"audioUrl": "https://example.org/a.wav"},
        **fields,
    }


def stored(dsn: str, *columns: str) -> dict[str, tuple[Any, ...]]:
    """Every row of public.jobs by id: the given columns."""
    with psycopg.connect(dsn) as connection:
        found = connection.execute(f"select id, {', '.join(columns)} from public.jobs").fetchall()
    return {str(r[0]): tuple(r[1:]) for r in found}


def scraped(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.mark.postgres
def test_one_refused_row_among_50_holds_up_none(
    mirror_db: str, stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="controller.mirror")
    metrics = OperatorMetrics(CollectorRegistry())
    writer = MirrorWriter(PostgresSink(mirror_db), metrics=metrics, first_retry=0.5)
    metrics.rows_waiting, metrics.rows_set_aside = writer.pending, writer.set_aside
    refused = str(uuid.uuid4())
    others = [str(uuid.uuid4()) for _ in range(50)]
    # A job type added to the catalog without a migration of the jobs.type CHECK constraint:
    # its row is at the head of the queue.
    writer.offer(row(refused, type="karaoke"))
    for job_id in others:
        writer.offer(row(job_id))
    started = time.monotonic()
    writer.start(stop)
    wait_for(lambda: set(stored(mirror_db, "status")) >= set(others), "the 50 other rows", 10)
    assert time.monotonic() - started < 5  # the normal lag, not a retry's backoff
    assert refused not in stored(mirror_db, "status")
    wait_for(lambda: writer.failures >= 2, "the refused row's retry", 10)  # on its own backoff
    assert (writer.pending(), writer.set_aside()) == (0, 1)

    samples = scraped(metrics.exposition().decode())
    assert samples[("omvee_mirror_write_failures_total", frozenset({("reason", "Rejected")}))] >= 2
    assert (
        samples[("omvee_mirror_write_failures_total", frozenset({("reason", "Unavailable")}))] == 0
    )
    assert samples[("omvee_mirror_rows_set_aside", frozenset())] == 1
    assert samples[("omvee_mirror_rows_waiting", frozenset())] == 0
    assert samples[("omvee_mirror_lag_seconds_count", frozenset())] == 50
    [logged] = [r.getMessage() for r in caplog.records if refused in r.getMessage()]  # once
    assert f"Mirror cannot write the row of job {refused} " in logged
    assert f"{TYPE_REFUSED} (SQLSTATE 23514); set aside" in logged

    writer.offer(row(refused, 2))  # a newer row of the job, which the database takes: at once
    wait_for(lambda: refused in stored(mirror_db, "status"), "the newer row", 5)
    assert writer.set_aside() == 0


@pytest.mark.postgres
def test_u0000_anywhere_in_a_row_is_replaced_and_said(
    mirror_db: str, stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="controller.mirror")
    writer = MirrorWriter(PostgresSink(mirror_db))
    job_id, after = str(uuid.uuid4()), str(uuid.uuid4())
    writer.offer(
        row(
            job_id,
            message="exit\x00code 1",
            input={"audioUrl": "https://example.org/a\x00b.wav"},
            result={"segments": [{"text": "a\x00b"}], "k\x00": 1},
        )
    )
    writer.offer(row(after))
    writer.start(stop)
    wait_for(lambda: len(stored(mirror_db, "status")) == 2, "both rows", 10)
    assert stored(mirror_db, "message", "input", "result")[job_id] == (
        "exit\ufffdcode 1",
        {"audioUrl": "https://example.org/a\ufffdb.wav"},
        {"segments": [{"text": "a\ufffdb"}], "k\ufffd": 1},
    )
    [said] = [r.getMessage() for r in caplog.records]
    assert said.startswith(f"Mirror row of job {job_id} ")
    assert said.endswith(
        "with U+FFFD in message, input.audioUrl, result.segments[0].text, result.k\ufffd (key)"
    )


# Through the real operator: OmveeJobs finishing on the local cluster, mirrored into the
# session's PostgreSQL.


@pytest.fixture
def ojobs(k8s: client.ApiClient, job_namespace: str, operator: OperatorProcess) -> OmveeJobs:
    return OmveeJobs(k8s, job_namespace)


def row_status(dsn: str, job_id: str) -> tuple[str, str | None] | None:
    with psycopg.connect(dsn) as connection:
        found = connection.execute(
            "select status, reason from public.jobs where id = %s", [job_id]
        ).fetchone()
    return (str(found[0]), found[1]) if found else None


def final_row(ojobs: OmveeJobs, dsn: str, name: str) -> bool:
    status = ojobs.status(name)
    want = {"Succeeded": "succeeded", "Failed": "failed"}.get(status.get("phase") or "")
    found = row_status(dsn, ojobs.get(name)["spec"]["jobId"])
    return want is not None and found is not None and found[0] == want


@pytest.mark.cluster
@pytest.mark.postgres
def test_operator_mirrors_50_jobs_past_one_refused_row(
    ojobs: OmveeJobs, operator_mirror_dsn: str, operator: OperatorProcess
) -> None:
    refused = manifest("refused", pod_annotations=factories.pod_annotations(run_duration="1s"))
    refused_id = refused["spec"]["jobId"]
    with psycopg.connect(operator_mirror_dsn, autocommit=True) as connection:
        connection.execute(  # a constraint of the real database that refuses this one job
            f"alter table public.jobs add constraint refuse_one_job check (id <> '{refused_id}')"
        )
    log_before = len(operator.log.read_text(errors="replace"))
    try:
        ojobs.create(refused)
        wait_for(
            lambda: ojobs.status("refused").get("phase") in FINAL, "the refused job to end", 60
        )
        names = [f"past-{i}" for i in range(50)]
        for name in names:
            ojobs.create(manifest(name, pod_annotations=factories.pod_annotations()))
        wait_for(
            lambda: all(ojobs.status(n).get("phase") in FINAL for n in names),
            "all 50 jobs to finish",
            120,
        )
        # The normal lag: a resync (2 s) and a write; a refused row at the head of the queue
        # would hold every one of them up for good.
        wait_for(
            lambda: all(final_row(ojobs, operator_mirror_dsn, n) for n in names),
            "the 50 rows to be mirrored",
            15,
        )
        assert row_status(operator_mirror_dsn, refused_id) is None
        samples = scraped(httpx.get(f"{operator.url}/metrics", timeout=10).text)
        assert samples[("omvee_mirror_write_failures_total", frozenset({("reason", "Rejected")}))]
        assert samples[("omvee_mirror_rows_set_aside", frozenset())] >= 1
        assert samples[("omvee_mirror_rows_waiting", frozenset())] == 0
        log = operator.log.read_text(errors="replace")[log_before:]
        [logged] = [line for line in log.splitlines() if f"job {refused_id}" in line]  # once
        assert "Mirror cannot write the row of job" in logged
        assert (
            'new row for relation "jobs" violates check constraint "refuse_one_job" '
            "(SQLSTATE 23514); set aside"
        ) in logged
    finally:
        with psycopg.connect(operator_mirror_dsn, autocommit=True) as connection:
            connection.execute("alter table public.jobs drop constraint if exists refuse_one_job")
    # Its own retry may be minutes away by now; a newer revision of the job (any change to the
    # OmveeJob) replaces the set-aside row and is tried at once.
    ojobs.custom.patch_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        ojobs.namespace,
        constants.PLURAL,
        "refused",
        {"metadata": {"labels": {"example.com/touched": "yes"}}},
    )
    wait_for(lambda: final_row(ojobs, operator_mirror_dsn, "refused"), "the refused row", 15)


@pytest.mark.cluster
@pytest.mark.postgres
def test_u0000_in_an_applied_input_ends_invalid_input_and_its_row_is_mirrored(
    ojobs: OmveeJobs, operator_mirror_dsn: str, operator: OperatorProcess
) -> None:
    body = manifest(
        "nul-input", "transcription", input={"audioUrl": "https://example.org/a\x00b.wav"}
    )
    log_before = len(operator.log.read_text(errors="replace"))
    ojobs.create(body)  # spec.input is free-form in the CRD: the operator checks it
    status = ojobs.wait_final("nul-input")
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidInput")
    assert status["message"] == (
        "invalid input: input.audioUrl: must not contain control characters or unpaired "
        "surrogates (found U+0000)"
    )
    assert ojobs.jobs("nul-input") == []
    job_id = body["spec"]["jobId"]
    wait_for(
        lambda: row_status(operator_mirror_dsn, job_id) == ("failed", "InvalidInput"),
        "its row",
        15,
    )
    with psycopg.connect(operator_mirror_dsn) as connection:
        found = connection.execute("select input from public.jobs where id = %s", [job_id])
        assert found.fetchone() == ({"audioUrl": "https://example.org/a\ufffdb.wav"},)
    log = operator.log.read_text(errors="replace")[log_before:]
    assert f"Mirror row of job {job_id} (OmveeJob {ojobs.namespace}/nul-input): replaced" in log


@pytest.mark.cluster
def test_the_crd_refuses_control_characters_in_pod_annotations(
    k8s: client.ApiClient, namespace: str, crd: dict[str, object]
) -> None:
    body = manifest("nul-annotation", pod_annotations={"example.com/note": "a\x00b"})
    with pytest.raises(client.ApiException) as raised:
        OmveeJobs(k8s, namespace).create(body)
    assert raised.value.status == 422
    assert "spec.podAnnotations.example.com/note: Invalid value" in str(raised.value.body)
