"""The ``incidents`` collection: what guardrails raised, until an operator acknowledges it."""

from __future__ import annotations

import uuid
from typing import Any

from pymongo import DESCENDING

from services.exceptions import NotFoundError, TransitionError
from services.guardrails.evaluate import GuardrailAction
from services.guardrails.incidents import Incident, IncidentStatus, incident_from_action
from services.mongo import schema
from services.mongo.repository import MongoStore


def raise_incident(
    store: MongoStore, action: GuardrailAction, *, batch_id: str | None = None
) -> tuple[Incident, bool]:
    """Record ``action`` as an incident; returns ``(incident, new)``.

    While an incident of the same experiment, rule, action and model is open, a repeat only
    counts (``repeats``, ``last_seen_at``) instead of opening another.
    """
    col = store.db[schema.INCIDENTS]
    now = store.clock.now()
    key = {
        "experiment_id": action.experiment_id,
        "rule": action.rule.value,
        "action": action.kind.value,
        "model_code": action.model_code,
        "status": IncidentStatus.OPEN.value,
    }
    existing = col.find_one(key)
    if existing is not None:
        col.update_one(
            {"_id": existing["_id"]},
            {"$inc": {"repeats": 1}, "$set": {"last_seen_at": now, "figures": action.figures}},
        )
        return Incident.from_dict(col.find_one({"_id": existing["_id"]})), False
    incident = incident_from_action(
        action, incident_id=uuid.uuid4().hex[:12], at=now, batch_id=batch_id
    )
    col.insert_one({"_id": incident.incident_id, **incident.to_dict()})
    return incident, True


def list_incidents(
    store: MongoStore,
    *,
    status: IncidentStatus | str | None = None,
    experiment_id: str | None = None,
    limit: int = 500,
) -> list[Incident]:
    """Incidents, newest first, optionally of one status or experiment."""
    query: dict[str, Any] = {}
    if status is not None:
        query["status"] = IncidentStatus(status).value
    if experiment_id is not None:
        query["experiment_id"] = str(experiment_id)
    docs = store.db[schema.INCIDENTS].find(query).sort("created_at", DESCENDING).limit(limit)
    return [Incident.from_dict(d) for d in docs]


def acknowledge_incident(store: MongoStore, incident_id: str, *, by: str) -> Incident:
    """An operator has seen it: the incident is acknowledged (audited on its experiment)."""
    col = store.db[schema.INCIDENTS]
    doc = col.find_one({"_id": str(incident_id)})
    if doc is None:
        raise NotFoundError(f"no incident {incident_id!r}")
    if doc.get("status") != IncidentStatus.OPEN.value:
        raise TransitionError(doc["experiment_id"], "acknowledge", str(doc.get("status")))
    now = store.clock.now()
    result = col.update_one(
        {"_id": doc["_id"], "status": IncidentStatus.OPEN.value},
        {
            "$set": {
                "status": IncidentStatus.ACKNOWLEDGED.value,
                "acknowledged_by": by,
                "acknowledged_at": now,
            }
        },
    )
    if result.modified_count == 0:
        raise TransitionError(doc["experiment_id"], "acknowledge", "acknowledged")
    store.record_audit(
        doc["experiment_id"],
        "acknowledge_incident",
        by=by,
        details={"incident_id": doc["_id"], "rule": doc["rule"], "action": doc["action"]},
    )
    return Incident.from_dict(col.find_one({"_id": doc["_id"]}))
