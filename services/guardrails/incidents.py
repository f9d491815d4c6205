"""Incidents: what a guardrail did (or wants an operator to look at), until acknowledged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.guardrails.evaluate import GuardrailAction

#: Overview order: the most severe first.
SEVERITY_ORDER = ("critical", "high", "warning")


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class Incident:
    """One incident as stored in the ``incidents`` collection.

    ``repeats`` counts the later batches that tripped the same rule on the same model while the
    incident was open (they do not open new incidents).
    """

    incident_id: str
    experiment_id: str
    area_code: str
    rule: str
    action: str
    severity: str
    message: str
    created_at: datetime
    model_code: str | None = None
    batch_id: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    status: IncidentStatus = IncidentStatus.OPEN
    repeats: int = 0
    last_seen_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "experiment_id": self.experiment_id,
            "area_code": self.area_code,
            "rule": self.rule,
            "action": self.action,
            "severity": self.severity,
            "message": self.message,
            "created_at": self.created_at,
            "model_code": self.model_code,
            "batch_id": self.batch_id,
            "figures": self.figures,
            "status": IncidentStatus(self.status).value,
            "repeats": self.repeats,
            "last_seen_at": self.last_seen_at,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Incident:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in doc.items() if k in known}
        values["status"] = IncidentStatus(values.get("status", "open"))
        return cls(**values)


def incident_from_action(
    action: GuardrailAction, *, incident_id: str, at: datetime, batch_id: str | None
) -> Incident:
    return Incident(
        incident_id=incident_id,
        experiment_id=action.experiment_id,
        area_code=action.area_code,
        rule=action.rule.value,
        action=action.kind.value,
        severity=action.severity.value,
        message=action.message,
        created_at=at,
        model_code=action.model_code,
        batch_id=batch_id,
        figures=dict(action.figures),
        last_seen_at=at,
    )


def group_incidents(
    incidents: list[Incident],
) -> list[tuple[str, str, list[Incident]]]:
    """``(area, severity, incidents)`` groups: areas in order, most severe first within one."""
    groups: dict[tuple[str, str], list[Incident]] = {}
    for incident in incidents:
        groups.setdefault((incident.area_code, incident.severity), []).append(incident)

    def rank(severity: str) -> int:
        return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)

    keys = sorted(groups, key=lambda k: (k[0], rank(k[1])))
    return [
        (area, sev, sorted(groups[(area, sev)], key=lambda i: i.created_at)) for area, sev in keys
    ]
