"""Incremental batches: hour-by-hour runs, a catch-up run and a rebuild give the same figures,
and those are the generator's truth (duplicates, orphans, late and malformed lines, clicks
across hour boundaries)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from services.events.layout import hour_of_partition, partition_path
from services.mongo import schema
from services.statistics.stratified import bandit_parameters
from spark import incremental
from spark.session import compiled_classes
from spark.update_params import JobSettings, run_update
from tests.spark.conftest import LAKE_HOURS as HOURS
from tests.spark.test_job import S1, S2, START, A, B, setup_experiments

pytestmark = pytest.mark.spark

END = START + timedelta(hours=HOURS + 3)  # every late click of the last hour has landed


def settings(root, state, end, **extra) -> JobSettings:
    # Pooled: these tests check the counting pipeline against the truth's sums; the stratified
    # feed (the default) has a test of its own below.
    extra.setdefault("estimator", "pooled")
    # The generator's fixed 1:1 split is not the dynamic test's weights: the split-integrity
    # guardrail would rightly pause EXP-01 mid-run. These tests are about counting.
    extra.setdefault("guardrails", False)
    return JobSettings(str(root), end, state_root=str(state), **extra)


def figures(store) -> dict[str, object]:
    """What the job decided: hourly documents and the arm parameters, without write times."""
    hourly = sorted((d for d in store.db[schema.HOURLY_METRICS].find()), key=lambda d: d["_id"])
    params = sorted(
        (
            {k: v for k, v in d.items() if k != "updated_at"}
            for d in store.db[schema.ARM_PARAMETERS].find()
        ),
        key=lambda d: d["_id"],
    )
    batches = sorted(
        (
            {k: v for k, v in d.items() if k != "created_at"}
            for d in store.db[schema.PARAMETER_BATCHES].find()
        ),
        key=lambda d: d["_id"],
    )
    return {"hourly": hourly, "params": params, "batches": batches}


def test_hour_by_hour_equals_the_truth_a_catch_up_run_and_a_rebuild(
    spark, store, second_store, clock, lake, tmp_path
):
    root, summary = lake
    truth = summary.truth
    setup_experiments(store, clock)
    setup_experiments(second_store, clock)

    # WHEN one store gets a batch every hour, the other one batch after a long outage
    reports = []
    for k in range(1, HOURS + 4):
        clock.current = START + timedelta(hours=k)
        reports.append(
            run_update(spark, store, settings(root, tmp_path / "a", START + timedelta(hours=k)))
        )
    # (the catch-up as a batch too large to broadcast its clicks and orders: a shuffle join)
    threshold = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(incremental, "BROADCAST_EVENTS", 0)
            catch_up = run_update(spark, second_store, settings(root, tmp_path / "b", END))
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", threshold)

    # THEN each hourly batch parsed only its new hour, the catch-up every hour at once
    partitions = sorted(hour_of_partition(str(p)) for p in root.glob("dt=*/hour=*"))
    assert len(partitions) == HOURS + 3  # late clicks land up to three hours later
    assert [r.hours_processed for r in reports] == [[hour] for hour in partitions]
    assert all(len(r.hours_touched) <= 2 for r in reports)
    assert catch_up.hours_processed == partitions

    # AND the hourly metrics are the generator's truth, hour by hour
    for experiment_id in ("EXP-01", "EXP-02"):
        expected = truth[truth.experiment_id == experiment_id].sort_values(["hour", "model_code"])
        want = [
            (
                r.model_code,
                r.hour.to_pydatetime(),
                r.impressions,
                r.clicks,
                r.orders,
                r.unique_members,
            )
            for r in expected.itertuples()
        ]
        for s in (store, second_store):
            got = [
                (m.model_code, m.hour, m.impressions, m.clicks, m.orders, m.unique_members)
                for m in s.hourly_metrics(experiment_id)
            ]
            assert got == want
            # Impressions logged without a batch id are counted as such; the generator's fixed
            # split logs each arm's share as its propensity (EXP-01 1:1, EXP-02 2:3).
            share = {A: 0.5, B: 0.5, S1: 0.4, S2: 0.6}
            assert all(
                m.impressions_by_batch == {"unknown": m.impressions}
                and m.propensity_missing == 0
                and m.ipw_weight == pytest.approx(m.impressions / share[m.model_code])
                for m in s.hourly_metrics(experiment_id)
            )

    # AND both stores hold the same parameters: alpha/beta are the truth's sums
    exp01 = (
        truth[truth.experiment_id == "EXP-01"]
        .groupby("model_code")[["impressions", "clicks"]]
        .sum()
    )
    for s in (store, second_store):
        batch = s.parameter_history("EXP-01")[-1]
        assert batch.window_end == END
        assert [(a.model_code, a.alpha, a.beta) for a in batch.arms] == [
            (
                c,
                int(exp01.loc[c, "clicks"]),
                int(exp01.loc[c, "impressions"] - exp01.loc[c, "clicks"]),
            )
            for c in (A, B)
        ]
        # the data-quality counts of the window are what the generator injected
        for experiment_id in ("EXP-01", "EXP-02"):
            dq = s.parameter_history(experiment_id)[-1].data_quality
            injected = summary.by_experiment[experiment_id]
            assert injected["orphan_clicks"] > 0 and injected["late_clicks"] > 0
            assert {
                k: dq[k]
                for k in ("duplicate_events", "orphan_clicks", "late_clicks", "late_orders")
            } == {
                "duplicate_events": injected["duplicates"],
                "orphan_clicks": injected["orphan_clicks"],
                "late_clicks": injected["late_clicks"],
                "late_orders": injected["late_orders"],
            }
            assert dq["malformed_lines"] == summary.counts["malformed_lines"] > 0
    hourly_a, hourly_b = figures(store)["hourly"], figures(second_store)["hourly"]
    assert hourly_a == hourly_b
    current = {d["_id"]: (d["mab_alpha"], d["mab_beta"]) for d in figures(store)["params"]}
    assert current == {
        d["_id"]: (d["mab_alpha"], d["mab_beta"]) for d in figures(second_store)["params"]
    }

    # WHEN the last batch runs again, and then a rebuild from the first hour
    before = figures(store)
    again = run_update(spark, store, settings(root, tmp_path / "a", END))
    assert again.hours_processed == []  # nothing new: parameters from the stored hours
    assert figures(store) == before
    rebuilt = run_update(spark, store, settings(root, tmp_path / "a", END, rebuild_from=START))
    # THEN the rebuild parsed every hour again and changed nothing
    assert rebuilt.hours_processed == partitions
    assert figures(store) == before


def test_an_older_batch_rerun_rewrites_its_history_but_not_what_is_served(
    spark, store, clock, lake, tmp_path
):
    root, _ = lake
    setup_experiments(store, clock)
    newer, older = START + timedelta(hours=3), START + timedelta(hours=2)
    run_update(spark, store, settings(root, tmp_path / "s", older))
    run_update(spark, store, settings(root, tmp_path / "s", newer))
    served = store.get_parameters("EXP-01", (A, B))
    assert served.batch_id == "20261128T0300"

    # WHEN the batch ending at 02:00 runs again after the one ending at 03:00
    report = run_update(spark, store, settings(root, tmp_path / "s", older))

    # THEN the selector still gets 03:00's parameters; the history holds both batches
    assert report.current == [] and set(report.batches) == {"EXP-01", "EXP-02"}
    assert store.get_parameters("EXP-01", (A, B)) == served
    assert [b.batch_id for b in store.parameter_history("EXP-01")] == [
        "20261128T0200",
        "20261128T0300",
    ]
    # AND the old batch's history document was rewritten, not duplicated
    assert store.db[schema.PARAMETER_BATCHES].count_documents({"batch_id": "20261128T0200"}) == 2


def test_the_bandit_is_fed_the_stratified_estimate_and_members_are_counted_once(
    spark, store, clock, lake, tmp_path
):
    root, summary = lake
    truth = summary.truth
    setup_experiments(store, clock)
    # WHEN the job runs with its defaults (stratified feed)
    clock.current = END
    run_update(spark, store, JobSettings(str(root), END, state_root=str(tmp_path / "s")))
    # THEN EXP-01's alpha/beta are the moment-matched stratified estimate of the truth's hours
    batch = store.parameter_history("EXP-01")[-1]
    rows = [
        {**r._asdict(), "hour": r.hour.to_pydatetime()}
        for r in truth[truth.experiment_id == "EXP-01"].itertuples(index=False)
    ]
    expected = bandit_parameters(rows, (A, B), start=batch.window_start, end=batch.window_end)
    assert [(a.alpha, a.beta) for a in batch.arms] == [
        (round(expected[c][0]), round(expected[c][1])) for c in (A, B)
    ]
    assert [(a.alpha, a.beta) for a in batch.arms] != [(0, 0), (0, 0)]


def _line(event_type, request, at, model=A, suffix=""):
    return json.dumps(
        {
            "event_id": f"{request}{suffix}",
            "event_type": event_type,
            "request_id": request,
            "ts": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "member_id": f"M-{request}",
            "area_code": "MAIN",
            "experiment_id": "EXP-01",
            "model_code": model,
            "item_id": "I1",
        }
    )


def test_events_filed_under_an_earlier_hour_still_count_where_they_happened(
    spark, store, clock, tmp_path
):
    """A batch reads only the copies that can hold the hours it wants (each copy's first and
    last event hour is recorded with the hour): a copy whose lines run past its own hour (a
    writer's clock ahead) is still read for those later hours."""
    setup_experiments(store, clock)
    root = tmp_path / "events"
    h = [START + timedelta(hours=k) for k in range(5)]
    files = {
        # the clicked impression of hour 4, and an impression of hour 4 filed under hour 3
        h[4]: [_line("impression", "r1", h[4] + timedelta(minutes=5))],
        h[3]: [
            _line("impression", "r2", h[4] + timedelta(minutes=1), model=B),
            _line("impression", "r0", h[3] + timedelta(minutes=9)),
        ],
        # the click on r1, filed three hours early (a copy the batch reads only for late clicks)
        h[1]: [
            _line("impression", "r3", h[1] + timedelta(minutes=2)),
            _line("click", "r1", h[4] + timedelta(minutes=7), suffix=":c"),
        ],
        h[0]: [_line("impression", "r4", h[0] + timedelta(minutes=3))],
        h[2]: [_line("impression", "r5", h[2] + timedelta(minutes=3))],
    }
    for hour, lines in files.items():
        folder = Path(partition_path(str(root), hour))
        folder.mkdir(parents=True)
        (folder / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    state = tmp_path / "state"
    run_update(spark, store, settings(root, state, h[4]))
    # The hour records say which hours of events each copy holds.
    records = store.job_hours(h[0], h[4])
    assert records[h[1]]["event_hours"] == [h[1], h[4]]
    assert records[h[3]]["event_hours"] == [h[3], h[4]]

    # WHEN the next hour is processed at steady state
    run_update(spark, store, settings(root, state, h[4] + timedelta(hours=1)))

    # THEN hour 4 has both its impressions and the click filed under hour 1
    docs = {m.model_code: m for m in store.hourly_metrics("EXP-01", start=h[4])}
    assert (docs[A].impressions, docs[A].clicks) == (1, 1)
    assert (docs[B].impressions, docs[B].clicks) == (1, 0)
    quality = store.job_hours(h[4], h[4] + timedelta(hours=1))[h[4]]["quality"]["EXP-01"]
    assert quality["orphan_clicks"] == 0


def test_a_session_that_runs_batch_after_batch_compiles_its_code_once(
    spark, store, clock, lake, tmp_path
):
    """The local stack keeps one session for every batch: a batch's generated classes (some 130,
    more than Spark keeps by default) stay compiled for the next, which runs them JIT-warm."""
    root, _ = lake
    setup_experiments(store, clock)
    end = START + timedelta(hours=HOURS)
    run_update(spark, store, settings(root, tmp_path / "s", end))
    again = settings(root, tmp_path / "s", end, rebuild_from=end - timedelta(hours=1))
    run_update(spark, store, again)
    before = compiled_classes(spark)

    # WHEN the same batch runs once more in the same session
    run_update(spark, store, again)

    # THEN no code is compiled again
    assert compiled_classes(spark) == before
