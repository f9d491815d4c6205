"""What the guardrails did to some experiments, and every warning their batches raise.

One read for "was this run quiet?": the automatic audit entries (``by: guardrail``), the
incidents, the held batches and the Overview's batch alerts (SRM and data quality, judged as
the Overview judges them). The honest-traffic acceptance tests assert it is empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.audit import AuditEntry
from services.guardrails.apply import GUARDRAIL
from services.guardrails.incidents import Incident
from services.mongo.incidents import list_incidents
from services.mongo.repository import MongoStore
from services.reports.overview import batch_alerts


@dataclass(frozen=True)
class GuardrailActivity:
    actions: tuple[AuditEntry, ...]
    incidents: tuple[Incident, ...]
    held_batches: tuple[str, ...]
    #: ``"EXP batch: message"`` for each Overview alert of a stored batch.
    warnings: tuple[str, ...]
    batches: int

    @property
    def quiet(self) -> bool:
        return not (self.actions or self.incidents or self.held_batches or self.warnings)

    def describe(self) -> str:
        lines = [f"{len(self.actions)} action(s), {len(self.incidents)} incident(s), "]
        lines += [f"  audit {a.experiment_id} {a.action}: {a.details}" for a in self.actions]
        lines += [f"  incident {i.experiment_id} {i.rule}: {i.message}" for i in self.incidents]
        lines += [f"  held {b}" for b in self.held_batches]
        lines += [f"  warning {w}" for w in self.warnings]
        return "\n".join(lines)


def guardrail_activity(store: MongoStore, experiment_ids: Iterable[str]) -> GuardrailActivity:
    """Everything the guardrails did or warned about for ``experiment_ids``, over all batches."""
    actions: list[AuditEntry] = []
    incidents: list[Incident] = []
    held: list[str] = []
    warnings: list[str] = []
    batches = 0
    for exp_id in experiment_ids:
        experiment = store.get_experiment(exp_id)
        actions += [a for a in store.audit_history(exp_id) if a.by == GUARDRAIL]
        incidents += list_incidents(store, experiment_id=exp_id)
        for batch in store.parameter_history(exp_id):
            batches += 1
            if batch.held:
                held.append(f"{exp_id} {batch.batch_id}")
            warnings += [
                f"{exp_id} {batch.batch_id}: {alert.message}"
                for alert in batch_alerts(batch, rules=experiment.guardrails)
            ]
    return GuardrailActivity(
        tuple(actions), tuple(incidents), tuple(held), tuple(warnings), batches
    )
