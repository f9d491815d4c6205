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
        return updated

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
        batches = self.db[schema.PARAMETER_BATCHES]
        key = {"experiment_id": batch.experiment_id, "batch_id": batch.batch_id}
        if batches.find_one(key, {"_id": 1}) is None:
            batches.insert_one(doc)
        else:
            batches.replace_one(key, doc)

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

    def save_parameter_batch(self, batch: ParameterBatch) -> None:
        now = self.clock.now()
        doc = batch_to_doc(batch, created_at=batch.created_at or now)
        batches = self.db[schema.PARAMETER_BATCHES]
        existing = batches.find_one(
            {"experiment_id": batch.experiment_id, "batch_id": batch.batch_id}, {"_id": 1}
        )
        if existing is None:
            batches.insert_one(doc)
        else:
            batches.replace_one({"_id": existing["_id"]}, doc)
        params = self.db[schema.ARM_PARAMETERS]
        ids = {f"{batch.experiment_id}|{arm.model_code}": arm for arm in batch.arms}
        have = {d["_id"] for d in params.find({"_id": {"$in": list(ids)}}, {"_id": 1})}
        docs = {
            _id: {
                "_id": _id,
                "experiment_id": batch.experiment_id,
                "variant_name": arm.model_code,
                "mab_alpha": arm.alpha,
                "mab_beta": arm.beta,
                "p_best": arm.p_best,
                "weight": arm.weight,
                "batch_id": batch.batch_id,
                "warmup": batch.warmup,
                "updated_at": now,
            }
            for _id, arm in ids.items()
        }
        if have:
            params.bulk_write([ReplaceOne({"_id": i}, docs[i]) for i in have], ordered=False)
        new = [docs[i] for i in ids if i not in have]
        if new:
            params.insert_many(new, ordered=False)
        # Arms no longer in the batch would otherwise keep serving stale counts.
        params.delete_many({"experiment_id": batch.experiment_id, "_id": {"$nin": list(ids)}})

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
        col = self.db[schema.HOURLY_METRICS]
        docs = {
            metric_id(r.experiment_id, r.model_code, r.hour): {
                "_id": metric_id(r.experiment_id, r.model_code, r.hour),
                "experiment_id": r.experiment_id,
                "model_code": r.model_code,
                "hour": r.hour,
                "impressions": r.impressions,
                "clicks": r.clicks,
                "orders": r.orders,
                "unique_members": r.unique_members,
                "ctr": r.ctr,
            }
            for r in rows
        }
        existing = {
            d["_id"]
            for d in col.find(
                {"experiment_id": experiment_id, "hour": {"$in": sorted(hour_set)}}, {"_id": 1}
            )
        }
        stale = existing - set(docs)
        if stale:
            col.delete_many({"_id": {"$in": sorted(stale)}})
        replace = [ReplaceOne({"_id": i}, docs[i]) for i in sorted(existing & set(docs))]
        if replace:
            col.bulk_write(replace, ordered=False)
        new = [docs[i] for i in sorted(set(docs) - existing)]
        if new:
            col.insert_many(new, ordered=False)
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
        return [
            HourlyMetric(
                experiment_id=d["experiment_id"],
                model_code=d["model_code"],
                hour=d["hour"],
                impressions=int(d["impressions"]),
                clicks=int(d["clicks"]),
                orders=int(d.get("orders", 0)),
                unique_members=int(d.get("unique_members", 0)),
            )
            for d in docs
        ]


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
