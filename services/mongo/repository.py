"""The MongoDB implementation of :class:`services.store.Store`.

Invariants and how they hold without multi-document transactions:

* *Optimistic concurrency*: every experiment update filters on ``{_id, version: expected}`` and
  increments the version; zero matches means someone else wrote first -> StaleVersionError.
* *One running-or-paused experiment per area*: the area document holds
  ``active_experiment_id`` (with a ``claim_token`` and ``claimed_at``). Starting claims it with a
  conditional update (``active_experiment_id: None`` -> id), which only one writer can win;
  stopping releases it. If the experiment's own update then fails (stale version), the claim is
  released again. A process that dies between the two steps leaves a half-done claim; readers
  ignore it and the next start takes it over (see "area claims" below), so no area stays stuck.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient, ReplaceOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.audit import AuditEntry
from services.clock import Clock, SystemClock
from services.exceptions import (
    AreaBusyError,
    ConflictError,
    NotFoundError,
    StaleVersionError,
    StoreUnavailableError,
    TransitionError,
    ValidationError,
)
from services.experiments import Area, Experiment, Status
from services.hourly_metrics import HourlyMetric
from services.lifecycle import Action, check_editable, transition
from services.mongo import schema
from services.mongo.schema import time_range
from services.parameters import (
    ArmParameters,
    BatchArm,
    ParameterBatch,
    ParameterSnapshot,
    empty_snapshot,
)

DEFAULT_DB = "dynab"

#: How long a claim held by a draft counts as a start in progress. A start writes its
#: experiment milliseconds after claiming; a claim this old was left by a process that died.
CLAIM_GRACE = timedelta(seconds=10)
CLAIM_ATTEMPTS = 5
ACTIVE_STATUSES = (Status.RUNNING.value, Status.PAUSED.value)


class ClaimState(Enum):
    HELD = "held"  # a running or paused experiment of the area: the claim stands
    PENDING = "pending"  # a draft: a start in progress, or one that died before its write
    VOID = "void"  # holder stopped, gone, or in another area: a stop that died, or stale


def claim_state(area: dict[str, Any], holder: dict[str, Any] | None) -> ClaimState:
    """How an area's claim stands, judged by the experiment holding it."""
    if holder is None:
        return ClaimState.VOID
    if holder.get("area_code") != area.get("_id", area.get("area_code")):
        return ClaimState.VOID
    if holder.get("status") in ACTIVE_STATUSES:
        return ClaimState.HELD
    if holder.get("status") == Status.DRAFT.value:
        return ClaimState.PENDING
    return ClaimState.VOID


def connect(
    uri: str | None = None,
    *,
    db_name: str | None = None,
    timeout_ms: int = 5000,
    app_name: str = "dynab",
    operation_timeout_ms: int | None = None,
) -> Database:
    """A database handle; ``uri`` defaults to ``MONGODB_URI``.

    The timeouts bound how long a caller waits for an unreachable server; the selector passes
    short ones so that a page never waits on a store outage. ``operation_timeout_ms`` is
    pymongo's ``timeoutMS``: a bound on a whole operation, retries included.
    """
    uri = uri or os.environ.get("MONGODB_URI")
    if not uri:
        raise StoreUnavailableError(
            "MONGODB_URI is not set; start the embedded server with `dynab mongo` or set it"
        )
    extra: dict[str, int] = {}
    if operation_timeout_ms is not None:
        extra["timeoutMS"] = operation_timeout_ms
    client: MongoClient = MongoClient(
        uri,
        **extra,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 2, 1000),
        appname=app_name,
        tz_aware=False,
    )
    name = db_name or os.environ.get("MONGODB_DB") or _db_from_uri(uri) or DEFAULT_DB
    return client[name]


def _db_from_uri(uri: str) -> str | None:
    from pymongo.uri_parser import parse_uri

    try:
        return parse_uri(uri).get("database")
    except Exception:
        return None


def metric_id(experiment_id: str, model_code: str, hour: datetime) -> str:
    return f"{experiment_id}|{model_code}|{hour:%Y-%m-%dT%H}"


def _strip(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k != "_id"}


class MongoStore:
    """Store on a MongoDB database (real MongoDB or the embedded server)."""

    def __init__(
        self,
        db: Database,
        clock: Clock | None = None,
        *,
        claim_grace: timedelta = CLAIM_GRACE,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.claim_grace = claim_grace

    def ensure_indexes(self) -> None:
        schema.ensure_indexes(self.db)

    def ping(self) -> None:
        try:
            self.db.client.admin.command("ping")
        except PyMongoError as exc:
            raise StoreUnavailableError(f"MongoDB did not answer: {exc}") from exc

    # --- areas -----------------------------------------------------------------------------

    def save_area(self, area: Area) -> Area:
        col = self.db[schema.AREAS]
        now = self.clock.now()
        # Replace rather than $set: the embedded server stores a datetime given to $set as a
        # string. The active experiment is carried over; the claim itself only ever changes
        # through the conditional updates of _claim_area / _release_area.
        for _ in range(3):
            current = col.find_one({"_id": area.area_code})
            if current is None:
                try:
                    col.insert_one(
                        {
                            "_id": area.area_code,
                            **area.to_dict(),
                            "active_experiment_id": None,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    break
                except DuplicateKeyError:  # created by another writer meanwhile
                    continue
            doc = {
                **current,
                "name": area.name,
                "default_model": area.default_model,
                "updated_at": now,
            }
            query = {
                "_id": area.area_code,
                "active_experiment_id": current.get("active_experiment_id"),
            }
            if col.replace_one(query, doc).matched_count == 1:
                break
        else:
            raise ConflictError(f"area {area.area_code} changed while it was being saved")
        return self.get_area(area.area_code)

    def get_area(self, area_code: str) -> Area:
        doc = self.db[schema.AREAS].find_one({"_id": str(area_code)})
        if doc is None:
            raise NotFoundError(f"unknown area {area_code!r}")
        return self._effective_areas([doc])[0]

    def list_areas(self) -> list[Area]:
        docs = list(self.db[schema.AREAS].find().sort("_id", ASCENDING))
        return self._effective_areas(docs)

    # --- experiments -----------------------------------------------------------------------

    def create_experiment(self, experiment: Experiment, *, by: str) -> Experiment:
        if experiment.status is not Status.DRAFT:
            raise ValidationError("status", "a new experiment starts as a draft")
        try:
            self.get_area(experiment.area_code)
        except NotFoundError:
            raise ValidationError(
                "area_code", f"unknown area {experiment.area_code!r}; create the area first"
            ) from None
        now = self.clock.now()
        stored = experiment.with_changes(
            created_at=now, updated_at=now, created_by=by, updated_by=by, version=1
        )
        try:
            self.db[schema.EXPERIMENTS].insert_one(
                {"_id": stored.experiment_id, **stored.to_dict()}
            )
        except DuplicateKeyError:
            raise ConflictError(
                f"experiment id {experiment.experiment_id} is already taken"
            ) from None
        self._audit(stored.experiment_id, "create", by, None, stored)
        return stored

    def get_experiment(self, experiment_id: str) -> Experiment:
        doc = self.db[schema.EXPERIMENTS].find_one({"_id": str(experiment_id)})
        if doc is None:
            raise NotFoundError(f"unknown experiment {experiment_id!r}")
        return Experiment.from_dict(doc)

    def list_experiments(
        self, *, area_code: str | None = None, statuses: Iterable[Status] | None = None
    ) -> list[Experiment]:
        query: dict[str, Any] = {}
        if area_code is not None:
            query["area_code"] = str(area_code)
        if statuses is not None:
            query["status"] = {"$in": [Status(s).value for s in statuses]}
        docs = self.db[schema.EXPERIMENTS].find(query).sort("_id", ASCENDING)
        return [Experiment.from_dict(d) for d in docs]

    def update_experiment(
        self, experiment: Experiment, *, expected_version: int, by: str
    ) -> Experiment:
        current = self.get_experiment(experiment.experiment_id)
        check_editable(current)
        if experiment.area_code != current.area_code:
            try:
                self.get_area(experiment.area_code)
            except NotFoundError:
                raise ValidationError(
                    "area_code", f"unknown area {experiment.area_code!r}"
                ) from None
        updated = experiment.with_changes(
            status=Status.DRAFT,
            created_at=current.created_at,
            created_by=current.created_by,
            updated_at=self.clock.now(),
            updated_by=by,
            version=expected_version + 1,
        )
        self._write_versioned(current, updated, expected_version, "edit", by)
        return updated

    def apply_action(
        self,
        experiment_id: str,
        action: Action | str,
        *,
        expected_version: int,
        by: str,
        promoted_model: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Experiment:
        current = self.get_experiment(experiment_id)
        if current.version != expected_version:
            raise StaleVersionError(experiment_id, expected_version, current.version)
        updated = transition(
            current, action, now=self.clock.now(), by=by, promoted_model=promoted_model
        ).with_changes(version=expected_version + 1)
        action = Action(action)
        token = self._claim_area(current) if action is Action.START else None
        try:
            self._write_versioned(
                current, updated, expected_version, action.value, by, details=details
            )
        except Exception:
            if token is not None:
                self._release_failed_claim(current, token)
            raise
        if action is Action.STOP:
            self._release_area(current)
            if updated.promoted_model is not None:
                self._promote(updated, by)
        return updated

    def _promote(self, stopped: Experiment, by: str) -> None:
        """Make a stopped experiment's promoted model its area's default model; audited.

        The area document is replaced whole (the embedded server stores a datetime given to $set
        as a string) and only while its claim is unchanged, as in :meth:`save_area`. The audit
        entry belongs to the experiment that promoted, its before/after the area's default.
        """
        col = self.db[schema.AREAS]
        for _ in range(3):
            current = col.find_one({"_id": stopped.area_code})
            if current is None:
                raise NotFoundError(f"unknown area {stopped.area_code!r}")
            before = current.get("default_model")
            doc = {
                **current,
                "default_model": stopped.promoted_model,
                "updated_at": self.clock.now(),
            }
            query = {
                "_id": stopped.area_code,
                "active_experiment_id": current.get("active_experiment_id"),
            }
            if col.replace_one(query, doc).matched_count == 1:
                break
        else:
            raise ConflictError(f"area {stopped.area_code} changed while it was being promoted")
        self.db[schema.AUDIT_LOG].insert_one(
            {
                "experiment_id": stopped.experiment_id,
                "action": "promote",
                "by": by,
                "at": self.clock.now(),
                "before": {"area_code": stopped.area_code, "default_model": before},
                "after": {"area_code": stopped.area_code, "default_model": stopped.promoted_model},
            }
        )

    # --- area claims -----------------------------------------------------------------------
    # Claim and write are two documents without a transaction, so a process can die between
    # them. Instead of trusting the claim, every reader and the next claimer judge it by its
    # holder: only a running or paused experiment of the area holds a claim. A claim left by a
    # dead start (holder still a draft) or a dead stop (holder stopped), or whose holder is
    # gone, is void and the next start takes it over with a conditional update. A draft holder
    # may also be a start in progress, so its claim is voided only after ``claim_grace`` and
    # only after *fencing* the draft (bumping its version): the slow start's versioned write
    # then fails, and two running experiments can never share an area.

    def _claim_area(self, experiment: Experiment) -> str:
        """Claim ``experiment``'s area; returns the claim's token. Raises AreaBusyError."""
        areas = self.db[schema.AREAS]
        holder_id: str | None = None
        for _ in range(CLAIM_ATTEMPTS):
            token = uuid.uuid4().hex
            claim = {
                "active_experiment_id": experiment.experiment_id,
                "claim_token": token,
                "claimed_at": self.clock.now().isoformat(),
            }
            won = areas.update_one(
                {"_id": experiment.area_code, "active_experiment_id": None}, {"$set": claim}
            )
            if won.matched_count == 1:
                return token
            area = areas.find_one({"_id": experiment.area_code})
            if area is None:
                raise NotFoundError(f"unknown area {experiment.area_code!r}")
            holder_id = area.get("active_experiment_id")
            if holder_id is None:
                continue  # released meanwhile: try the free claim again
            holder = self.db[schema.EXPERIMENTS].find_one({"_id": holder_id})
            state = claim_state(area, holder)
            if state is ClaimState.HELD:
                raise AreaBusyError(experiment.area_code, holder_id)
            if state is ClaimState.PENDING and holder_id != experiment.experiment_id:
                if not self._claim_expired(area):
                    raise AreaBusyError(experiment.area_code, holder_id)
                if not self._fence_draft(holder):
                    continue  # the draft moved on: judge it again
            taken = areas.update_one(
                {
                    "_id": experiment.area_code,
                    "active_experiment_id": holder_id,
                    "claim_token": area.get("claim_token"),
                },
                {"$set": claim},
            )
            if taken.matched_count == 1:
                return token
        raise AreaBusyError(experiment.area_code, holder_id)

    def _claim_expired(self, area: dict[str, Any]) -> bool:
        raw = area.get("claimed_at")
        try:
            claimed_at = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
        except ValueError:
            claimed_at = None
        if not isinstance(claimed_at, datetime):
            return True  # a claim from before claims were dated
        return self.clock.now() - claimed_at >= self.claim_grace

    def _fence_draft(self, holder: dict[str, Any]) -> bool:
        """Bump a draft's version so that a start still in flight for it fails; audited."""
        before = Experiment.from_dict(holder)
        after = before.with_changes(version=before.version + 1)
        fenced = self.db[schema.EXPERIMENTS].replace_one(
            {"_id": before.experiment_id, "version": before.version, "status": "draft"},
            {"_id": after.experiment_id, **after.to_dict()},
        )
        if fenced.matched_count != 1:
            return False
        self._audit(after.experiment_id, "void-claim", "dynab", before, after)
        return True

    def _release_failed_claim(self, experiment: Experiment, token: str) -> None:
        """After a failed start: free the claim unless the experiment holds it after all."""
        latest = self.db[schema.EXPERIMENTS].find_one({"_id": experiment.experiment_id})
        if latest is not None and latest.get("status") in ACTIVE_STATUSES:
            return  # a concurrent start of the same experiment won; the claim is its own
        self.db[schema.AREAS].update_one(
            {
                "_id": experiment.area_code,
                "active_experiment_id": experiment.experiment_id,
                "claim_token": token,
            },
            {"$set": {"active_experiment_id": None, "claim_token": None, "claimed_at": None}},
        )

    def _release_area(self, experiment: Experiment) -> None:
        """Idempotent: frees the area only while ``experiment`` still holds it."""
        self.db[schema.AREAS].update_one(
            {"_id": experiment.area_code, "active_experiment_id": experiment.experiment_id},
            {"$set": {"active_experiment_id": None, "claim_token": None, "claimed_at": None}},
        )

    def _effective_areas(self, docs: list[dict[str, Any]]) -> list[Area]:
        """Areas as readers must see them: a void claim shows as no active experiment."""
        held = [d["active_experiment_id"] for d in docs if d.get("active_experiment_id")]
        holders = {}
        if held:
            found = self.db[schema.EXPERIMENTS].find(
                {"_id": {"$in": held}}, {"_id": 1, "status": 1, "area_code": 1}
            )
            holders = {h["_id"]: h for h in found}
        areas = []
        for doc in docs:
            holder = holders.get(doc.get("active_experiment_id"))
            if claim_state(doc, holder) is not ClaimState.HELD:
                doc = {**doc, "active_experiment_id": None}
            areas.append(Area.from_dict(doc))
        return areas

    def _write_versioned(
        self,
        before: Experiment,
        after: Experiment,
        expected_version: int,
        action: str,
        by: str,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        doc = {"_id": after.experiment_id, **after.to_dict()}
        result = self.db[schema.EXPERIMENTS].replace_one(
            {"_id": after.experiment_id, "version": expected_version}, doc
        )
        if result.matched_count == 0:
            latest = self.db[schema.EXPERIMENTS].find_one({"_id": after.experiment_id})
            raise StaleVersionError(
                after.experiment_id, expected_version, latest["version"] if latest else None
            )
        self._audit(after.experiment_id, action, by, before, after, details=details)

    def set_disabled_models(
        self,
        experiment_id: str,
        disabled: Sequence[str],
        *,
        by: str,
        action: str,
        expected_version: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> Experiment:
        """Switch models off or back on in a running or paused experiment (audited).

        ``expected_version`` None takes the stored one (a guardrail acting on fresh state);
        an operator passes the version they saw.
        """
        current = self.get_experiment(experiment_id)
        version = current.version if expected_version is None else expected_version
        if current.version != version:
            raise StaleVersionError(experiment_id, version, current.version)
        if not current.is_active:
            raise TransitionError(experiment_id, action, current.status.value)
        updated = current.with_changes(
            disabled_models=tuple(disabled),
            updated_at=self.clock.now(),
            updated_by=by,
            version=version + 1,
        )
        self._write_versioned(current, updated, version, action, by, details=details)
        return updated

    def record_audit(
        self, experiment_id: str, action: str, *, by: str, details: dict[str, Any] | None
    ) -> None:
        """An audit entry that changes no configuration (a held batch, an alert, an ack)."""
        self._audit(experiment_id, action, by, None, None, details=details)

    def save_held_batch(self, batch: ParameterBatch) -> None:
        """Record ``batch`` as held: kept in the history, the parameters in force untouched."""
        doc = batch_to_doc(batch, created_at=batch.created_at or self.clock.now())
        doc["held"] = True
        doc["_id"] = batch_doc_id(batch.experiment_id, batch.batch_id)
        self.db[schema.PARAMETER_BATCHES].replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def active_experiment(self, area_code: str) -> Experiment | None:
        area = self.get_area(area_code)
        if not area.active_experiment_id:
            return None
        return self.get_experiment(area.active_experiment_id)

    def _audit(
        self,
        experiment_id: str,
        action: str,
        by: str,
        before: Experiment | None,
        after: Experiment | None,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        doc = {
            "experiment_id": experiment_id,
            "action": action,
            "by": by,
            "at": self.clock.now(),
            "before": before.to_dict() if before else None,
            "after": after.to_dict() if after else None,
        }
        if details is not None:
            doc["details"] = details
        self.db[schema.AUDIT_LOG].insert_one(doc)

    def audit_history(self, experiment_id: str) -> list[AuditEntry]:
        docs = (
            self.db[schema.AUDIT_LOG]
            .find({"experiment_id": str(experiment_id)})
            .sort([("at", ASCENDING), ("_id", ASCENDING)])
        )
        return [AuditEntry(**_strip(d)) for d in docs]  # type: ignore[arg-type]

    # --- parameters ------------------------------------------------------------------------

    def get_parameters(self, experiment_id: str, model_codes: Sequence[str]) -> ParameterSnapshot:
        docs = list(self.db[schema.ARM_PARAMETERS].find({"experiment_id": str(experiment_id)}))
        if not docs:
            return empty_snapshot(experiment_id, model_codes)
        arms = tuple(
            ArmParameters(
                model_code=d["variant_name"],
                alpha=int(d["mab_alpha"]),
                beta=int(d["mab_beta"]),
                weight=d.get("weight"),
            )
            for d in docs
        )
        snapshot = ParameterSnapshot(
            experiment_id=experiment_id,
            batch_id=docs[0].get("batch_id"),
            arms=arms,
            warmup=bool(docs[0].get("warmup", True)),
            computed_at=docs[0].get("updated_at"),
        )
        return ParameterSnapshot(
            experiment_id=experiment_id,
            batch_id=snapshot.batch_id,
            arms=snapshot.for_models(model_codes),
            warmup=snapshot.warmup,
            computed_at=snapshot.computed_at,
        )

    def save_parameter_batch(self, batch: ParameterBatch) -> bool:
        """Write the batch to the history; make it the current parameters unless a newer batch
        (a later ``window_end``) already is. Returns whether it became current.

        Parameters only move forward: re-running an old batch rewrites its history document and
        leaves what the selector serves alone. Every write is an upsert by a deterministic
        ``_id``, so two writers of the same batch cannot collide on the unique index.
        """
        now = self.clock.now()
        doc = {
            "_id": batch_doc_id(batch.experiment_id, batch.batch_id),
            **batch_to_doc(batch, created_at=batch.created_at or now),
        }
        batches = self.db[schema.PARAMETER_BATCHES]
        try:
            batches.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        except DuplicateKeyError:
            # A document of the same batch written before ids were deterministic (an ObjectId)
            # holds the unique key: replace it by the deterministic one.
            batches.delete_many(
                {
                    "experiment_id": batch.experiment_id,
                    "batch_id": batch.batch_id,
                    "_id": {"$ne": doc["_id"]},
                }
            )
            batches.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        params = self.db[schema.ARM_PARAMETERS]
        ids = {f"{batch.experiment_id}|{arm.model_code}": arm for arm in batch.arms}
        current = [
            d.get("window_end")
            for d in params.find({"experiment_id": batch.experiment_id}, {"window_end": 1})
        ]
        if any(end is not None and end > batch.window_end for end in current):
            return False
        params.bulk_write(
            [
                ReplaceOne(
                    {"_id": _id},
                    {
                        "_id": _id,
                        "experiment_id": batch.experiment_id,
                        "variant_name": arm.model_code,
                        "mab_alpha": arm.alpha,
                        "mab_beta": arm.beta,
                        "p_best": arm.p_best,
                        "weight": arm.weight,
                        "batch_id": batch.batch_id,
                        "window_end": batch.window_end,
                        "warmup": batch.warmup,
                        "updated_at": now,
                    },
                    upsert=True,
                )
                for _id, arm in ids.items()
            ],
            ordered=False,
        )
        # Arms no longer in the batch would otherwise keep serving stale counts.
        params.delete_many({"experiment_id": batch.experiment_id, "_id": {"$nin": list(ids)}})
        return True

    def parameter_history(
        self, experiment_id: str, *, limit: int | None = None
    ) -> list[ParameterBatch]:
        cursor = (
            self.db[schema.PARAMETER_BATCHES]
            .find({"experiment_id": str(experiment_id)})
            .sort("window_end", DESCENDING)
        )
        if limit:
            cursor = cursor.limit(int(limit))
        return [batch_from_doc(d) for d in reversed(list(cursor))]

    # --- hourly metrics --------------------------------------------------------------------

    def replace_hourly_metrics(
        self, experiment_id: str, hours: Sequence[datetime], rows: Sequence[HourlyMetric]
    ) -> int:
        hour_set = set(hours)
        for row in rows:
            if row.experiment_id != experiment_id or row.hour not in hour_set:
                raise ValidationError(
                    "rows",
                    f"row {row.experiment_id}/{row.model_code}/{row.hour} is outside "
                    f"the hours being replaced for {experiment_id}",
                )
        if not hour_set:
            return 0
        col = self.db[schema.HOURLY_METRICS]
        docs = {
            metric_id(r.experiment_id, r.model_code, r.hour): {
                "_id": metric_id(r.experiment_id, r.model_code, r.hour),
                **r.to_dict(),
            }
            for r in rows
        }
        # A range, not `$in` on the hours: the embedded server answers a range from the index
        # and scans for `$in`.
        query = time_range(
            {"experiment_id": experiment_id},
            "hour",
            min(hour_set),
            max(hour_set) + timedelta(hours=1),
        )
        stale = [
            d["_id"]
            for d in col.find(query, {"_id": 1, "hour": 1})
            if d["hour"] in hour_set and d["_id"] not in docs
        ]
        if stale:
            col.delete_many({"_id": {"$in": stale}})
        if docs:
            # Upserts by _id: atomic per document on any MongoDB, fast on the embedded one.
            col.bulk_write(
                [ReplaceOne({"_id": i}, doc, upsert=True) for i, doc in docs.items()],
                ordered=False,
            )
        # The console's daily roll-up of the same hours: a few reads and writes by _id. (Imported
        # here: the selector, which only reads, never loads its statistics.)
        from services.mongo.rollups import DailyRollups

        DailyRollups(self.db).replace_hours(experiment_id, sorted(hour_set), rows)
        return len(docs)

    def hourly_metrics(
        self,
        experiment_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[HourlyMetric]:
        query: dict[str, Any] = {"experiment_id": str(experiment_id)}
        time_range(query, "hour", start, end)
        docs = (
            self.db[schema.HOURLY_METRICS]
            .find(query)
            .sort([("hour", ASCENDING), ("model_code", ASCENDING)])
        )
        return [HourlyMetric.from_dict(d) for d in docs]

    # --- parameter job bookkeeping ---------------------------------------------------------

    def job_hours(self, start: datetime, end: datetime) -> dict[datetime, dict[str, Any]]:
        """The job's record of each hour in ``start <= hour < end`` it has seen, by hour."""
        docs = self.db[schema.JOB_HOURS].find(time_range({}, "hour", start, end))
        return {d["hour"]: _strip(d) for d in docs}  # type: ignore[misc]

    def save_job_hours(self, records: Sequence[dict[str, Any]]) -> None:
        """Record hours (``hour``, ``status``, ``batch``, counts...), one document per hour."""
        if records:
            self.db[schema.JOB_HOURS].bulk_write(
                [
                    ReplaceOne(
                        {"_id": job_hour_id(r["hour"])},
                        {"_id": job_hour_id(r["hour"]), **r},
                        upsert=True,
                    )
                    for r in records
                ],
                ordered=False,
            )

    def acquire_lease(
        self, name: str, owner: str, *, now: datetime, ttl_seconds: float, note: str = ""
    ) -> bool:
        """Take the lease ``name`` for ``owner`` until ``now + ttl`` if it is free, expired or
        already ``owner``'s. Atomic: of two callers at once, exactly one wins."""
        col = self.db[schema.JOB_LEASES]
        doc = {
            "owner": owner,
            "expires_at": now + timedelta(seconds=ttl_seconds),
            "acquired_at": now,
            "note": note,
        }
        taken = col.update_one(
            {"_id": name, "$or": [{"owner": owner}, {"expires_at": {"$lte": now}}]},
            {"$set": doc},
        )
        if taken.matched_count == 1:
            return True
        try:
            col.insert_one({"_id": name, **doc})
        except DuplicateKeyError:
            return False
        return True

    def renew_lease(self, name: str, owner: str, *, now: datetime, ttl_seconds: float) -> bool:
        result = self.db[schema.JOB_LEASES].update_one(
            {"_id": name, "owner": owner},
            {"$set": {"expires_at": now + timedelta(seconds=ttl_seconds)}},
        )
        return result.matched_count == 1

    def release_lease(self, name: str, owner: str) -> None:
        self.db[schema.JOB_LEASES].delete_one({"_id": name, "owner": owner})

    def lease(self, name: str) -> dict[str, Any] | None:
        return _strip(self.db[schema.JOB_LEASES].find_one({"_id": name}))


def batch_doc_id(experiment_id: str, batch_id: str) -> str:
    return f"{experiment_id}|{batch_id}"


def job_hour_id(hour: datetime) -> str:
    # Prefixed: the embedded server cannot find a document whose string _id looks like a date.
    return f"hour|{hour:%Y-%m-%dT%H}"


def batch_to_doc(batch: ParameterBatch, *, created_at: datetime) -> dict[str, Any]:
    """The ``parameter_batches`` document of ``batch`` (also used to bulk-load history)."""
    return {
        "experiment_id": batch.experiment_id,
        "batch_id": batch.batch_id,
        "window_start": batch.window_start,
        "window_end": batch.window_end,
        "created_at": created_at,
        "warmup": batch.warmup,
        "seed": batch.seed,
        "arms": [
            {
                "model_code": a.model_code,
                "alpha": a.alpha,
                "beta": a.beta,
                "p_best": a.p_best,
                "weight": a.weight,
            }
            for a in batch.arms
        ],
        "data_quality": batch.data_quality,
        "srm": batch.srm,
        "held": batch.held,
    }


def batch_from_doc(doc: dict[str, Any]) -> ParameterBatch:
    return ParameterBatch(
        experiment_id=doc["experiment_id"],
        batch_id=doc["batch_id"],
        window_start=doc["window_start"],
        window_end=doc["window_end"],
        arms=tuple(BatchArm(**a) for a in doc.get("arms", [])),
        warmup=bool(doc.get("warmup", False)),
        created_at=doc.get("created_at"),
        seed=doc.get("seed"),
        data_quality=doc.get("data_quality"),
        srm=doc.get("srm"),
        held=bool(doc.get("held", False)),
    )
