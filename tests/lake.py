"""Counts straight from a lake's raw lines, independent of the parameter job, to check it against.

Every reader here parses the lines with the event contract alone (``parse_line``): a malformed
line is skipped (test traffic writes some on purpose) and a duplicate delivery counts once.
Nothing here touches Spark or MongoDB.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

from services.events import Event, parse_line
from services.exceptions import ValidationError
from services.statistics.srm import UNKNOWN_BATCH


def lake_impressions(
    lake: Path, experiment_id: str | None = None, before: datetime | None = None
) -> list[Event]:
    """Valid impressions, one per event id: of one experiment or all, in hours < ``before``."""
    events: dict[str, Event] = {}
    for path in sorted(lake.glob("dt=*/hour=*/part-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                event = parse_line(line)
            except ValidationError:
                continue
            if event.event_type != "impression":
                continue
            if experiment_id is not None and event.experiment_id != experiment_id:
                continue
            if before is not None and event.hour >= before:
                continue
            events.setdefault(event.event_id, event)
    return list(events.values())


def first_member_counts(events: list[Event]) -> dict[str, Counter[tuple]]:
    """``{experiment: {(model, hour, batch): members}}``, each member at its first impression.

    Ties on the timestamp go to the lower model code, then batch id (the job's order).
    """
    first: dict[tuple[str, str], tuple] = {}
    for e in events:
        order = (e.ts.replace(tzinfo=None), e.model_code, e.batch_id or UNKNOWN_BATCH)
        key = (e.experiment_id, e.member_id)
        if key not in first or order < first[key]:
            first[key] = order
    out: dict[str, Counter[tuple]] = defaultdict(Counter)
    for (experiment_id, _), (ts, model, batch) in first.items():
        out[experiment_id][(model, ts.replace(minute=0, second=0, microsecond=0), batch)] += 1
    return out


def hourly_rows(lake: Path, experiment_id: str) -> list[dict]:
    """Hourly documents of one experiment as the job writes them, from the lake's impressions.

    Impressions per batch, each member's first impression (members), and each member's first view
    under a batch per hour (draws), per model and hour.
    """
    impressions: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    firsts: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    views: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[str] = set()
    viewed: set[tuple] = set()
    for event in sorted(lake_impressions(lake, experiment_id), key=lambda e: e.ts):
        key = (event.model_code, event.hour)
        batch = event.batch_id or UNKNOWN_BATCH
        impressions[key][batch] += 1
        if event.member_id not in seen:
            seen.add(event.member_id)
            firsts[key][batch] += 1
        draw = (event.member_id, batch, event.hour)
        if draw not in viewed:
            viewed.add(draw)
            views[key][batch] += 1
    return [
        {
            "experiment_id": experiment_id,
            "model_code": model,
            "hour": hour,
            "impressions_by_batch": dict(impressions[(model, hour)]),
            "first_members_by_batch": dict(firsts.get((model, hour), {})),
            "first_views_by_batch": dict(views.get((model, hour), {})),
        }
        for model, hour in impressions
    ]
