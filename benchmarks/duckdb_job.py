"""The parameter job's steady-state batch in DuckDB: the reference the Spark job is timed against.

The same incremental work on the same files, figure for figure, in plain SQL (no code of the
Spark job's), one new hour per batch:

1. parse the new hour's lines, each one valid or malformed as the job decides (JSON object, the
   required fields, a known event type, a readable time, a numeric propensity); count them per
   file, write the malformed ones aside, deduplicate by event id (deliveries beyond the first
   counted per experiment) and keep a Parquet copy of the events;
2. read the look-back copies: the touched hours' impressions, and of the hours before them
   only the request id and time (a late click or an orphan);
3. attribute the clicks and orders of the touched hours within the window: clicks (impressions
   clicked), orders, ipw_clicks per impression hour; late and orphan actions of the new hour;
4. the impression side of the new hour (impressions, propensities and first views by batch,
   unique members); that of an hour processed before is taken from its record;
5. fold the new hour's earliest impression of each member into a Parquet state of first
   assignments and count ``first_members_by_batch`` for the hours that may have changed;
6. load what the job loads: the touched hours' documents, the hour's record, the parameters.

``figures`` reads back what a store holds of those hours, to compare with the Spark job's.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from services.events.layout import partition_path
from services.events.schema import REQUIRED_FIELDS, EventType
from services.experiments import Status
from services.hourly_metrics import UNKNOWN_BATCH, HourlyMetric
from services.mongo import schema
from services.mongo.repository import MongoStore, metric_id
from spark.update_params import JobReport, JobSettings, _write_parameters

#: The fields read from a line, in the order of ``json_extract_string``'s list.
FIELDS = (*REQUIRED_FIELDS, "batch_id", "propensity")
NUMBER = "('DOUBLE', 'BIGINT', 'UBIGINT')"
QUALITY = ("duplicate_events", "orphan_clicks", "late_clicks", "orphan_orders", "late_orders")
SIDE = ("impressions", "unique_members", "propensity_missing", "ipw_weight")


def _at(moment: datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}'"


def _list(paths: list[Path]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"


def _hours(hours: list[datetime]) -> str:
    return "(" + ", ".join(_at(h) for h in hours) + ")" if hours else "(NULL)"


def _parse_sql(files: list[Path]) -> str:
    paths = "[" + ", ".join(f"'$.{f}'" for f in FIELDS) + "]"
    f = {name: f"f[{k + 1}]" for k, name in enumerate(FIELDS)}
    required = " AND ".join(
        f"coalesce(length({f[n]}), 0) > 0" for n in REQUIRED_FIELDS if n != "ts"
    )
    types = ", ".join(f"'{t.value}'" for t in EventType)
    ts = f"try_cast({f['ts']} AS TIMESTAMPTZ) AT TIME ZONE 'UTC'"
    return f"""
CREATE OR REPLACE TEMP TABLE checked AS
WITH lines AS (
  SELECT filename AS file, line FROM read_csv({_list(files)}, columns={{'line': 'VARCHAR'}},
    header=false, delim=chr(1), quote='', escape='', auto_detect=false, filename=true)
  WHERE trim(line) <> ''
), objects AS (
  SELECT file, line, CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' END AS object
  FROM lines
), fields AS (
  SELECT file, line,
    CASE WHEN object THEN json_extract_string(line, {paths}) END AS f,
    CASE WHEN object THEN json_type(line, '$.propensity') END AS p_type
  FROM objects
)
SELECT file, line, {", ".join(f"{f[n]} AS {n}" for n in FIELDS if n not in ("ts", "propensity"))},
  {ts} AS ts,
  CASE WHEN p_type IN {NUMBER} THEN CAST({f["propensity"]} AS DOUBLE) END AS propensity,
  coalesce(f IS NOT NULL AND {required} AND {f["event_type"]} IN ({types})
    AND {ts} IS NOT NULL AND (p_type IS NULL OR p_type = 'NULL' OR p_type IN {NUMBER}), false)
    AS valid
FROM fields
"""


class DuckDBJob:
    """The steady-state batch of the parameter job, one new hour at a time, in DuckDB.

    ``work`` holds the Parquet copies, the quarantine and the member state; ``store`` gets the
    same documents as the job's store (its own database). Each ``run`` processes one hour and
    recomputes the touched hours (the hour and the ``lookback_hours`` before it).
    ``options``: further ``JobSettings`` fields for the parameters step.
    """

    def __init__(
        self,
        root: Path,
        work: Path,
        store: MongoStore,
        *,
        attribution_seconds: int = 3600,
        lookback_hours: int = 1,
        late_hours: int = 3,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.root, self.store = root, store
        self.copies, self.members = work / "copies", work / "members"
        self.quarantine = work / "quarantine"
        for folder in (self.copies, self.members, self.quarantine):
            folder.mkdir(parents=True, exist_ok=True)
        self.attribution_seconds = attribution_seconds
        self.lookback_hours, self.late_hours = lookback_hours, late_hours
        #: ``JobSettings`` fields for the parameters step (estimator, guardrails).
        self.options = dict(options or {})

    def copy_of(self, hour: datetime) -> Path:
        return self.copies / f"{hour:%Y%m%dT%H}.parquet"

    def run(self, hour: datetime) -> float:
        """Process ``hour`` as the batch ending an hour later; the seconds it took."""
        import duckdb

        started = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET threads TO 2; SET TimeZone = 'UTC'")
        try:
            record = self._parse(con, hour)
            self._figures(con, hour, record)
        finally:
            con.close()
        return time.perf_counter() - started

    # 1. the new hour's lines, its copy and its counts
    def _parse(self, con: Any, hour: datetime) -> dict[str, Any]:
        folder = Path(partition_path(str(self.root), hour))
        files = sorted(p for p in folder.iterdir() if not p.name.startswith((".", "_")))
        con.execute(_parse_sql(files))
        con.execute(
            """CREATE OR REPLACE TEMP TABLE events AS
               SELECT *, date_trunc('hour', ts) AS hour FROM (
                 SELECT event_id, unnest(row), n AS copies FROM (
                   SELECT event_id, count(*) AS n, any_value({
                     'event_type': event_type, 'request_id': request_id, 'ts': ts,
                     'member_id': member_id, 'experiment_id': experiment_id,
                     'model_code': model_code, 'batch_id': batch_id, 'propensity': propensity
                   }) AS row
                   FROM checked WHERE valid GROUP BY event_id))"""
        )
        con.execute(
            f"""COPY (SELECT event_id, event_type, request_id, ts, hour, member_id,
                  experiment_id, model_code, batch_id, propensity FROM events)
                TO '{self.copy_of(hour)}' (FORMAT parquet)"""
        )
        per_file = con.execute(
            "SELECT file, count(*) FILTER (WHERE valid), count(*) FILTER (WHERE NOT valid) "
            "FROM checked GROUP BY file"
        ).fetchall()
        malformed = {file: bad for file, _, bad in per_file if bad}
        if malformed:
            con.execute(
                f"COPY (SELECT file, line AS value FROM checked WHERE NOT valid) "
                f"TO '{self.quarantine / f'{hour:%Y%m%dT%H}.json'}' (FORMAT json)"
            )
        quality: dict[str, dict[str, int]] = {}
        for experiment_id, n in con.execute(
            "SELECT experiment_id, sum(copies - 1) FROM events WHERE copies > 1 GROUP BY ALL"
        ).fetchall():
            quality.setdefault(experiment_id, dict.fromkeys(QUALITY, 0))["duplicate_events"] = n
        return {
            "events": sum(int(good) for _, good, _ in per_file),
            "malformed_lines": sum(malformed.values()),
            "malformed_files": len(malformed),
            "quality": quality,
        }

    # 2-6. the touched hours
    def _figures(self, con: Any, hour: datetime, record: dict[str, Any]) -> None:
        end = hour + timedelta(hours=1)
        running = self.store.list_experiments(statuses=[Status.RUNNING])
        ids = sorted(e.experiment_id for e in running)
        touched = [hour - timedelta(hours=k) for k in range(self.lookback_hours, -1, -1)]
        late = [touched[0] - timedelta(hours=k) for k in range(self.late_hours, 0, -1)]
        near = [h for h in touched if self.copy_of(h).exists()]
        older = [h for h in late if self.copy_of(h).exists()]
        records = self.store.job_hours(touched[0], end)
        recorded = {
            h: records[h]["impressions"]
            for h in near
            if h != hour and isinstance((records.get(h) or {}).get("impressions"), list)
        }
        to_count = [h for h in near if h not in recorded]
        near_copies = _list([self.copy_of(h) for h in near])
        all_copies = _list([self.copy_of(h) for h in near + older])

        # 3. attribution
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE act AS
                SELECT event_id, event_type, request_id, ts, experiment_id, hour AS act_hour
                FROM read_parquet({all_copies})
                WHERE event_type <> 'impression' AND hour >= {_at(touched[0])}"""
        )
        thin = (
            f"UNION ALL SELECT request_id, ts, NULL, NULL, NULL, NULL "
            f"FROM read_parquet({_list([self.copy_of(h) for h in older])}) "
            "WHERE event_type = 'impression'"
            if older
            else ""
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE pairs AS
                SELECT a.event_id, a.event_type, a.request_id, a.experiment_id, a.act_hour,
                       i.e, i.m, i.t, i.p,
                       a.ts > i.imp_ts + INTERVAL ({self.attribution_seconds}) SECOND AS late
                FROM act a JOIN (
                  SELECT request_id, ts AS imp_ts, experiment_id AS e, model_code AS m,
                         hour AS t, propensity AS p
                  FROM read_parquet({near_copies}) WHERE event_type = 'impression'
                  {thin}
                ) i USING (request_id)"""
        )
        clicks = {
            (e, m, t): (int(c), int(o), float(w))
            for e, m, t, c, o, w in con.execute(
                f"""SELECT e, m, t, sum(clicked), sum(orders),
                      coalesce(sum(CASE WHEN clicked = 1 AND p > 0 AND p <= 1 THEN 1 / p END), 0)
                    FROM (SELECT e, m, t, request_id,
                            max((event_type = 'click')::INT) AS clicked,
                            sum((event_type = 'order')::INT) AS orders, any_value(p) AS p
                          FROM pairs WHERE NOT late AND t IN {_hours(near)} GROUP BY ALL)
                    GROUP BY ALL"""
            ).fetchall()
        }
        matched = {
            (e, kind): (int(n), int(n_late))
            for e, kind, n, n_late in con.execute(
                f"""SELECT experiment_id, event_type, count(DISTINCT event_id),
                      count(*) FILTER (WHERE late)
                    FROM pairs WHERE act_hour = {_at(hour)} GROUP BY ALL"""
            ).fetchall()
        }
        for e, kind, n in con.execute(
            f"SELECT experiment_id, event_type, count(*) FROM act WHERE act_hour = {_at(hour)} "
            "GROUP BY ALL"
        ).fetchall():
            in_pairs, n_late = matched.get((e, kind), (0, 0))
            q = record["quality"].setdefault(e, dict.fromkeys(QUALITY, 0))
            q[f"orphan_{kind}s"] += int(n) - in_pairs
            q[f"late_{kind}s"] += n_late

        # 4. the impression side of the hours not recorded
        fresh = f"SELECT *, true AS fresh FROM read_parquet('{self.copy_of(hour)}')"
        others = [self.copy_of(h) for h in near if h != hour]
        if others:
            fresh += (
                f" UNION ALL SELECT *, false FROM read_parquet({_list(others)}) "
                f"WHERE hour IN {_hours(to_count)}"
            )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE views AS
                SELECT member_id, experiment_id, model_code, ts, hour, propensity, fresh,
                       coalesce(batch_id, '{UNKNOWN_BATCH}') AS batch
                FROM ({fresh}) WHERE event_type = 'impression'"""
        )
        counted = f"hour IN {_hours(to_count)}"
        sides: dict[tuple[str, str, datetime], dict[str, Any]] = {}
        for e, m, h, b, n, missing, weight in con.execute(
            f"""SELECT experiment_id, model_code, hour, batch, count(*),
                  count(*) FILTER (WHERE NOT coalesce(propensity > 0 AND propensity <= 1, false)),
                  coalesce(sum(1 / propensity) FILTER (WHERE propensity > 0 AND propensity <= 1), 0)
                FROM views WHERE {counted} GROUP BY ALL"""
        ).fetchall():
            side = sides.setdefault((e, m, h), _zero_side())
            side["impressions"] += n
            side["propensity_missing"] += missing
            side["ipw_weight"] += weight
            side["impressions_by_batch"][b] = n
        for side in sides.values():
            side["ipw_weight"] = round(side["ipw_weight"], 6)
        for e, m, h, n in con.execute(
            f"SELECT experiment_id, model_code, hour, count(DISTINCT member_id) FROM views "
            f"WHERE {counted} GROUP BY ALL"
        ).fetchall():
            sides[(e, m, h)]["unique_members"] = n
        for e, m, h, b, n in con.execute(
            f"""SELECT experiment_id, model, hour, batch, count(*) FROM (
                  SELECT experiment_id, member_id, hour, batch,
                    arg_min(model_code, {{'t': ts, 'm': model_code}}) AS model
                  FROM views WHERE {counted} GROUP BY ALL) GROUP BY ALL"""
        ).fetchall():
            sides[(e, m, h)]["first_views_by_batch"][b] = n
        entries = [
            {"experiment_id": e, "model_code": m, **side}
            for (e, m, h), side in sorted(sides.items())
            if h == hour
        ]
        for h, stored in recorded.items():
            for entry in stored:
                sides[(entry["experiment_id"], entry["model_code"], h)] = entry

        # 5. first assignments
        members = self._first_members(con, ids, near)

        # 6. load
        for experiment in running:
            rows = [
                HourlyMetric(
                    experiment_id=e,
                    model_code=m,
                    hour=h,
                    clicks=clicks.get((e, m, h), (0, 0, 0.0))[0],
                    orders=clicks.get((e, m, h), (0, 0, 0.0))[1],
                    ipw_clicks=round(clicks.get((e, m, h), (0, 0, 0.0))[2], 6),
                    **{k: side[k] for k in SIDE},
                    impressions_by_batch=dict(side["impressions_by_batch"]),
                    first_views_by_batch=dict(side["first_views_by_batch"]),
                    first_members_by_batch=members.get((e, m, h), {}),
                )
                for (e, m, h), side in sorted(sides.items())
                if e == experiment.experiment_id
            ]
            self.store.replace_hourly_metrics(experiment.experiment_id, near, rows)
        self.store.save_job_hours(
            [
                {
                    "hour": hour,
                    "status": "done",
                    "batch": "duckdb",
                    **record,
                    "impressions": entries,
                    "processed_at": datetime.now(),
                }
            ]
        )
        settings = JobSettings(str(self.root), end, **self.options)
        _write_parameters(self.store, settings, running, JobReport(end), lambda _m: None)

    def _first_members(
        self, con: Any, ids: list[str], hours_with_data: list[datetime]
    ) -> dict[tuple[str, str, datetime], dict[str, int]]:
        """Fold the new hour's earliest impression of each member into the state; the counts of
        the hours that may have changed, by (experiment, model, hour)."""
        state = sorted(self.members.glob("*.parquet"))
        stored = (
            f"read_parquet({_list(state)})"
            if state
            else "(SELECT NULL::VARCHAR AS experiment_id, NULL::VARCHAR AS member_id, "
            "NULL::TIMESTAMP AS ts, NULL::TIMESTAMP AS hour, NULL::VARCHAR AS model_code, "
            "NULL::VARCHAR AS batch_id WHERE false)"
        )
        wanted = "(" + ", ".join(f"'{e}'" for e in ids) + ")" if ids else "(NULL)"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE changed AS
                SELECT c.*, s.hour AS superseded_hour FROM (
                  SELECT experiment_id, member_id, unnest(first) FROM (
                    SELECT experiment_id, member_id,
                      arg_min({{'ts': ts, 'hour': hour, 'model_code': model_code,
                                'batch_id': batch}},
                              {{'t': ts, 'm': model_code, 'b': batch}}) AS first
                    FROM views WHERE fresh AND experiment_id IN {wanted} GROUP BY ALL)
                ) c LEFT JOIN {stored} s USING (experiment_id, member_id)
                WHERE s.ts IS NULL OR (c.ts, c.model_code, c.batch_id)
                                      < (s.ts, s.model_code, s.batch_id)"""
        )
        moved = con.execute(
            "SELECT experiment_id, hour, superseded_hour FROM changed GROUP BY ALL"
        ).fetchall()
        recount = {(e, h) for e in ids for h in hours_with_data}
        for e, h, old in moved:
            recount.add((e, h))
            if old is not None:
                recount.add((e, old))
        columns = "experiment_id, member_id, ts, hour, model_code, batch_id"
        target = self.members / f"{uuid.uuid4().hex}.parquet"
        if any(old is not None for _, _, old in moved):
            con.execute(
                f"""COPY (SELECT {columns} FROM {stored} s
                          ANTI JOIN changed c USING (experiment_id, member_id)
                          UNION ALL SELECT {columns} FROM changed)
                    TO '{target}' (FORMAT parquet)"""
            )
            for old_file in state:
                old_file.unlink()
        elif moved:
            con.execute(f"COPY (SELECT {columns} FROM changed) TO '{target}' (FORMAT parquet)")
        state = sorted(self.members.glob("*.parquet"))
        counts: dict[tuple[str, str, datetime], dict[str, int]] = {}
        if not state or not recount:
            return counts
        pairs = " OR ".join(f"(experiment_id = '{e}' AND hour = {_at(h)})" for e, h in recount)
        for e, m, h, b, n in con.execute(
            f"SELECT experiment_id, model_code, hour, batch_id, count(*) "
            f"FROM read_parquet({_list(state)}) WHERE {pairs} GROUP BY ALL"
        ).fetchall():
            counts.setdefault((e, m, h), {})[b] = n
        updates = []
        from pymongo import UpdateOne

        for e, h in sorted(recount):
            if h in hours_with_data:
                continue
            for (ce, m, ch), per in counts.items():
                if (ce, ch) == (e, h):
                    updates.append(
                        UpdateOne(
                            {"_id": metric_id(e, m, h)}, {"$set": {"first_members_by_batch": per}}
                        )
                    )
        if updates:
            self.store.db[schema.HOURLY_METRICS].bulk_write(updates, ordered=False)
        return counts


def _zero_side() -> dict[str, Any]:
    return {**dict.fromkeys(SIDE, 0), "impressions_by_batch": {}, "first_views_by_batch": {}}


#: The figures of an hourly document that both jobs store.
FIGURES = (
    "impressions",
    "clicks",
    "orders",
    "unique_members",
    "propensity_missing",
    "ipw_weight",
    "ipw_clicks",
    "impressions_by_batch",
    "first_views_by_batch",
    "first_members_by_batch",
)


def figures(store: MongoStore, hours: list[datetime]) -> dict[str, Any]:
    """What ``store`` holds of ``hours``: every hourly document's figures and each hour's
    counts (events, malformed lines and files, data quality per experiment)."""
    docs = store.db[schema.HOURLY_METRICS].find({"hour": {"$gte": min(hours), "$lte": max(hours)}})
    hourly = sorted(
        (d["experiment_id"], d["model_code"], d["hour"], *[d.get(k) for k in FIGURES]) for d in docs
    )
    records = store.job_hours(min(hours), max(hours) + timedelta(hours=1))
    counts = {
        h: {k: r.get(k) for k in ("events", "malformed_lines", "malformed_files", "quality")}
        for h, r in records.items()
        if r.get("status") == "done"
    }
    return {"hourly": hourly, "counts": counts}
