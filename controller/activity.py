"""Whether this operator replica acts now: always when standalone, else per kopf peering."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from controller import peering
from controller.k8s import Kube

log = logging.getLogger(__name__)


class ActiveGate:
    """Whether this replica may act: set at once when ``name`` (the peering object's) is empty,
    else after ``refresh`` finds no live peer of higher priority in ``namespaces`` (none: the
    ClusterKopfPeering). Thread-safe to read; ``refresh`` raises what the API client raises."""

    def __init__(
        self, kube: Kube, name: str, identity: str, priority: int, namespaces: tuple[str, ...]
    ) -> None:
        self.kube = kube
        self.name = name
        self.identity = identity
        self.priority = priority
        self.namespaces = namespaces
        self._active = threading.Event()
        self._state = ""
        if not name:
            self._active.set()

    @property
    def standalone(self) -> bool:
        """True when no peering name is set: the gate is always open."""
        return not self.name

    def is_active(self) -> bool:
        """Whether this replica acts now (as of the last ``refresh``); never blocks."""
        return self._active.is_set()

    def refresh(self) -> bool:
        """Re-read the peering objects; True when this replica has just become the active one."""
        if self.standalone:
            return False
        now = datetime.now(UTC)
        blocking = [
            peer
            for status in self.kube.peering_statuses(self.name, self.namespaces)
            for peer in peering.blocking_peers(status, self.identity, self.priority, now)
        ]
        state = "standby" if blocking else "active"
        changed, self._state = state != self._state, state
        if not blocking:
            self._active.set()
            if changed:
                log.info(
                    "Active: no live peer outranks %s (priority %d)", self.identity, self.priority
                )
            return changed
        self._active.clear()
        if changed:
            log.info("Standing by (priority %d) while %s acts", self.priority, ", ".join(blocking))
        return False
