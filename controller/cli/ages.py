"""Pure: durations typed by people (``7d``, ``90m``, ``1d12h``) and ages printed for them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``2h``, ``7d``, ``1w`` or a sum of them (``1d12h``)."""
    cleaned = text.strip().lower()
    if not cleaned or _PART.sub("", cleaned):
        raise ValueError(f"expected a duration like 30m, 12h, 7d or 1d12h, not {text!r}")
    return timedelta(seconds=sum(int(n) * UNITS[unit] for n, unit in _PART.findall(cleaned)))


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as Kubernetes writes it (``2026-01-01T00:00:05Z``), or None."""
    if not text:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_age(seconds: float) -> str:
    """Like kubectl's AGE column: 45s, 12m, 3h, 5h20m, 6d."""
    whole = max(0, int(seconds))
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def age_since(text: str | None, now: datetime) -> str:
    """The age of an RFC 3339 time, ``-`` when unset."""
    at = parse_time(text)
    return format_age((now - at).total_seconds()) if at else "-"
