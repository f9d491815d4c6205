"""The audit log: who did what to which experiment, when, with the state before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    experiment_id: str
    action: str
    by: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    #: What an automatic action was based on (a guardrail's rule and figures), if anything.
    details: dict[str, Any] | None = None

    def changed_fields(self) -> list[str]:
        """Fields whose value differs between before and after (bookkeeping fields left out)."""
        before, after = self.before or {}, self.after or {}
        skip = {"version", "updated_at", "updated_by"}
        return sorted(
            k for k in set(before) | set(after) if k not in skip and before.get(k) != after.get(k)
        )
