"""The `jobs` table's status words (api.statuswords) and the table check's probe rows
(controller.mirror.tablecheck): pure."""

from __future__ import annotations

import pytest

from api.envsettings import SettingsError
from api.statuswords import OURS, MirrorWordsSettings, StatusWords
from controller.mirror.rows import build_row
from controller.mirror.tablecheck import probe_sequences, problems_text, split_problems

APP = {"queued": "pending", "running": "processing", "succeeded": "completed"}


def ojob(phase: str | None) -> dict[str, object]:
    return {
        "metadata": {"namespace": "ns", "name": "j", "resourceVersion": "7"},
        "spec": {"jobId": "a", "projectId": "p", "type": "transcription"},
        "status": {"phase": phase} if phase else {},
    }


def test_ours_are_the_default_and_add_nothing_to_a_row() -> None:
    assert OURS.identity and OURS.final() == ["succeeded", "failed", "cancelled"]
    assert "final_statuses" not in build_row(ojob("Succeeded"))


def test_a_mapping_keeps_ours_where_it_names_none() -> None:
    words = StatusWords.from_mapping(APP)
    assert [words.word(s) for s in ("queued", "running", "succeeded", "failed", "cancelled")] == [
        "pending",
        "processing",
        "completed",
        "failed",
        "cancelled",
    ]
    assert words.final() == ["completed", "failed", "cancelled"]
    assert words.unfinished() == ["pending", "processing"]
    assert words.status("completed") == "succeeded" and words.status("done") is None


@pytest.mark.parametrize(
    ("phase", "word"),
    [
        (None, "pending"),
        ("Pending", "pending"),
        ("Running", "processing"),
        ("Succeeded", "completed"),
        ("Failed", "failed"),
        ("Cancelled", "cancelled"),
    ],
)
def test_rows_carry_the_apps_word_and_its_final_words(phase: str | None, word: str) -> None:
    row = build_row(ojob(phase), StatusWords.from_mapping(APP))
    assert row["status"] == word
    assert row["final_statuses"] == ["completed", "failed", "cancelled"]


def test_finished_words_may_share_one_word() -> None:
    words = StatusWords.from_mapping({"cancelled": "failed"})
    assert words.final() == ["succeeded", "failed"]


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"done": "completed"}, "'done'"),
        ({"queued": ""}, "'queued'"),
        ({"queued": " pending"}, "'queued'"),
        ({"queued": "x" * 65}, "'queued'"),
        ({"queued": 3}, "'queued'"),
        ({"failed": "pending", "queued": "pending"}, "'failed' and 'queued'"),
        ({"succeeded": "running"}, "'succeeded' and 'running'"),
    ],
)
def test_a_wrong_mapping_is_refused_naming_it(mapping: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        StatusWords.from_mapping(mapping)


def test_the_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMVEE_MIRROR_STATUS_WORDS", '{"queued": "pending"}')
    assert MirrorWordsSettings.load().words().word("queued") == "pending"
    monkeypatch.setenv("OMVEE_MIRROR_STATUS_WORDS", '{"finished": "completed"}')
    with pytest.raises(SettingsError, match=r"OMVEE_MIRROR_STATUS_WORDS.*'finished'"):
        MirrorWordsSettings.load()
    monkeypatch.setenv("OMVEE_MIRROR_STATUS_WORDS", "queued=pending")
    with pytest.raises(SettingsError, match="OMVEE_MIRROR_STATUS_WORDS"):
        MirrorWordsSettings.load()


def test_the_probe_writes_every_status_and_every_type() -> None:
    words = StatusWords.from_mapping(APP)
    types = ["transcription", "scene-generation", "video-generation"]
    sequences = probe_sequences(words, types, seed=1)
    assert sequences == probe_sequences(words, types, seed=1)  # ids from the seed
    finals = sequences[:3]
    assert [[r["status"] for r in s["rows"]] for s in finals] == [
        ["pending", "processing", "completed"],
        ["pending", "processing", "failed"],
        ["pending", "processing", "cancelled"],
    ]
    for sequence in finals:
        assert sequence["expect"] == ["inserted", "updated", "updated"]
        assert [r["revision"] for r in sequence["rows"]] == [1, 2, 3]
        assert len({r["id"] for r in sequence["rows"]}) == 1
    assert [s["rows"][0]["type"] for s in sequences[3:]] == types[1:]
    ids = [s["rows"][0]["id"] for s in sequences]
    assert len(set(ids)) == len(ids)  # each sequence its own job


def test_the_problems_are_said_one_per_line_with_what_to_do() -> None:
    text = problems_text(
        [
            {
                "name": "a transcription job queued (status 'queued')",
                "error": 'new row for relation "jobs" violates check constraint '
                '"jobs_status_check"',
                "sqlstate": "23514",
            }
        ],
        "PostgreSQL db:5432",
    )
    lines = text.splitlines()
    assert lines[0] == "the jobs table in PostgreSQL db:5432 cannot hold what the mirror writes:"
    assert "jobs_status_check" in lines[1] and "(SQLSTATE 23514)" in lines[1]
    assert "OMVEE_MIRROR_STATUS_WORDS" in lines[2]


def test_only_a_key_on_project_id_with_no_project_to_write_as_is_unchecked() -> None:
    on_project = {"name": "a", "error": "fk", "sqlstate": "23503", "project_key": True}
    on_type = {"name": "b", "error": "fk", "sqlstate": "23503", "project_key": False}
    check = {"name": "c", "error": "check", "sqlstate": "23514"}
    assert split_problems([on_project, on_type, check]) == ([on_type, check], [on_project])
