"""Which of several operator replicas acts: kopf's peering rule, for our own threads too.

kopf pauses its watches while a live peer has a higher priority (or the same one), but the
reconcile workers and the periodic resync are ours, so they ask the same question of the same
peering objects. Peers write ``status: {<identity>: {priority, lifetime, lastseen}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

GROUP = "kopf.dev"
VERSION = "v1"
CLUSTER_PLURAL = "clusterkopfpeerings"
NAMESPACED_PLURAL = "kopfpeerings"


def _alive(info: Mapping[str, Any], now: datetime) -> bool:
    lastseen = info.get("lastseen")
    if not isinstance(lastseen, str):
        return False
    try:
        seen = datetime.fromisoformat(lastseen)
    except ValueError:
        return False
    return seen + timedelta(seconds=int(info.get("lifetime", 60))) > now


def blocking_peers(
    status: Mapping[str, Any], identity: str, priority: int, now: datetime
) -> list[str]:
    """The live peers that keep us paused, for the log."""
    return [
        peer
        for peer, info in status.items()
        if peer != identity
        and isinstance(info, Mapping)
        and _alive(info, now)
        and int(info.get("priority", 0)) >= priority
    ]


def is_active(status: Mapping[str, Any], identity: str, priority: int, now: datetime) -> bool:
    """True when no other live peer has a priority as high as ours (kopf freezes every peer
    of an equal priority, so a tie means nobody acts)."""
    return not blocking_peers(status, identity, priority, now)
