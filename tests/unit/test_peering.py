"""Which replica acts: kopf's peering rule, as controller.peering applies it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.peering import blocking_peers, is_active
from controller.settings import OperatorSettings, SettingsError

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def peer(priority: int, seen_ago: float = 1, lifetime: int = 60) -> dict[str, object]:
    return {
        "priority": priority,
        "lifetime": lifetime,
        "lastseen": (NOW - timedelta(seconds=seen_ago)).isoformat(),
    }


def test_alone_or_outranking_everyone_acts() -> None:
    assert is_active({}, "me", 10, NOW)
    assert is_active({"me": peer(10)}, "me", 10, NOW)
    assert is_active({"me": peer(10), "other": peer(5)}, "me", 10, NOW)


def test_a_live_higher_or_equal_peer_blocks() -> None:
    assert blocking_peers({"me": peer(10), "other": peer(20)}, "me", 10, NOW) == ["other"]
    # kopf freezes every operator of an equal priority, so a tie means nobody acts
    assert not is_active({"me": peer(10), "twin": peer(10)}, "me", 10, NOW)


def test_dead_or_departed_peers_do_not_block() -> None:
    expired = peer(99, seen_ago=61, lifetime=60)
    departed = peer(99, seen_ago=0, lifetime=0)  # what kopf writes on a clean exit
    assert is_active({"old": expired, "gone": departed}, "me", 1, NOW)


def test_malformed_entries_are_ignored() -> None:
    status = {"x": "not a mapping", "y": {"priority": 50}, "z": {"lastseen": "yesterday"}}
    assert is_active(status, "me", 1, NOW)


def test_peering_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMVEE_PEERING", "omvee-operator")
    monkeypatch.setenv("POD_NAME", "omvee-operator-7d9c-abcde")
    monkeypatch.setenv("OMVEE_PEERING_PRIORITY", "42")
    settings = OperatorSettings.from_env()
    assert (settings.peering_name, settings.identity, settings.peering_priority) == (
        "omvee-operator",
        "omvee-operator-7d9c-abcde",
        42,
    )
    monkeypatch.delenv("OMVEE_PEERING_PRIORITY")
    drawn = {OperatorSettings.from_env().peering_priority for _ in range(5)}
    assert len(drawn) > 1 and all(p > 0 for p in drawn)  # replicas must not tie
    monkeypatch.setenv("OMVEE_PEERING_PRIORITY", "high")
    with pytest.raises(SettingsError, match="OMVEE_PEERING_PRIORITY must be an integer"):
        OperatorSettings.from_env()
