"""The `omvee` command's pure parts: durations, ages, tables and the event-stream parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.cli.ages import age_since, format_age, parse_duration
from controller.cli.remote import server_sent_events
from controller.cli.tables import job_detail, jobs_table, render, watch_line

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(days=7)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 90M ", timedelta(minutes=90)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "7 d", "-1d", "1y", "7d!", "1.5h"])
def test_bad_durations_name_the_format(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 30m"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-3, "0s"),
        (45, "45s"),
        (119, "119s"),
        (720, "12m"),
        (3 * 3600 + 1200, "3h20m"),
        (5 * 3600, "5h"),
        (30 * 3600, "30h"),
        (6 * 86400, "6d"),
    ],
)
def test_ages_read_like_kubectl(seconds: float, shown: str) -> None:
    assert format_age(seconds) == shown


def test_age_since_an_rfc3339_time() -> None:
    assert age_since("2026-11-29T11:48:00Z", NOW) == "12m"
    assert age_since(None, NOW) == "-"


def test_render_aligns_columns_and_shows_missing_values_as_dashes() -> None:
    assert render(["A", "LONGER"], [["xx", None], ["y", 3]]).splitlines() == [
        "A    LONGER",
        "xx   -",
        "y    3",
    ]


JOB = {
    "id": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
    "project_id": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
    "type": "transcription",
    "phase": "Running",
    "progress": 40,
    "progress_message": "decoding 40%",
    "attempts": 1,
    "run": 0,
    "reason": "Running",
    "message": "running on kwok-gpu-0 (attempt 1 of 3)",
    "node": "kwok-gpu-0",
    "created_at": "2026-11-29T11:50:00Z",
    "started_at": "2026-11-29T11:51:00Z",
    "finished_at": None,
    "result": None,
}


def test_jobs_table_adds_the_namespace_column_only_in_cluster_mode() -> None:
    api = jobs_table([JOB], NOW).splitlines()
    assert api[0].split() == ["ID", "TYPE", "PHASE", "PROGRESS", "ATTEMPTS", "NODE", "AGE"]
    assert api[1].split() == [
        JOB["id"],
        "transcription",
        "Running",
        "40%",
        "1",
        "kwok-gpu-0",
        "10m",
    ]
    cluster = jobs_table([{"namespace": "omvee", **JOB, "phase": None, "node": None}], NOW)
    assert cluster.splitlines()[1].split() == [
        "omvee",
        JOB["id"],
        "transcription",
        "Pending",
        "40%",
        "1",
        "-",
        "10m",
    ]
    assert jobs_table([], NOW) == "No jobs found."


def test_job_detail_lists_fields_and_the_result() -> None:
    text = job_detail({**JOB, "result": {"transcript": "s3://x/transcript.json"}}, NOW)
    assert "Phase:         Running" in text
    assert "Progress:      40%" in text
    assert "Started:       2026-11-29T11:51:00Z (9m ago)" in text
    assert "Finished:      -" in text
    assert text.endswith("Result:\n  transcript: s3://x/transcript.json")


def test_watch_line() -> None:
    line = watch_line(JOB, datetime(2026, 11, 29, 12, 0, 5))
    assert line == (
        "12:00:05  Running     40%  attempt 1  running on kwok-gpu-0 (attempt 1 of 3)"
        " — decoding 40%"
    )


def test_server_sent_events_are_split_on_blank_lines() -> None:
    lines = iter(["event: status", 'data: {"a": 1}', "", ": comment", "event: end", "data: {}", ""])
    assert list(server_sent_events(lines)) == [("status", '{"a": 1}'), ("end", "{}")]
