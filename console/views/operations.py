"""Operations: the serving path's health and whether it returns the models it should.

Cache hit ratio, calls, errors and latency per hour; the model codes the selector returned per
hour against what the experiment should produce (mismatch flagged); parameter-job runs; on AWS,
the X-Ray service map. The source (embedded or AWS) comes from ``DYNAB_OPS_SOURCE`` and friends,
see ``docs/operations.md``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st
from pymongo.errors import PyMongoError

from console import data
from console.access import signed_in_user
from console.text import md
from console.widgets import pick_experiment
from services.exceptions import DynabError
from services.ops.config import OpsConfig, build_source
from services.ops.figures import (
    ApiPeriod,
    ModelCount,
    ServiceNode,
    api_totals,
    served_per_model,
)
from services.ops.job_runs import JobRun, JobRunLog
from services.ops.source import OpsSource
from services.ops.split_check import check_selections

#: Seconds an operations query is reused: CloudWatch itself publishes per minute.
OPS_TTL = 60
PERIOD = 3600
WINDOWS = {"Last 6 hours": 6, "Last 24 hours": 24, "Last 3 days": 72, "Last 7 days": 168}

user = signed_in_user()
st.title("Operations")


@st.cache_resource(show_spinner=False)
def _ops_source(uri: str, db_name: str, config: OpsConfig) -> OpsSource:
    db = data.get_store().db if config.source == "embedded" else None
    return build_source(config, db)


@st.cache_data(ttl=OPS_TTL, show_spinner=False)
def _api_metrics(
    src: data.Source, config: OpsConfig, start: datetime, end: datetime
) -> list[ApiPeriod]:
    return _ops_source(src.uri, src.db_name, config).api_metrics(start, end, PERIOD)


@st.cache_data(ttl=OPS_TTL, show_spinner=False)
def _model_counts(
    src: data.Source, config: OpsConfig, start: datetime, end: datetime
) -> list[ModelCount]:
    return _ops_source(src.uri, src.db_name, config).model_counts(start, end, PERIOD)


@st.cache_data(ttl=OPS_TTL, show_spinner=False)
def _service_map(
    src: data.Source, config: OpsConfig, start: datetime, end: datetime
) -> list[ServiceNode] | None:
    return _ops_source(src.uri, src.db_name, config).service_map(start, end)


@st.cache_data(ttl=OPS_TTL, show_spinner=False)
def _job_runs(src: data.Source) -> list[JobRun]:
    return JobRunLog(data.get_store().db).recent(20)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


src = data.source()
try:
    config = OpsConfig.from_env()
except DynabError as exc:
    st.error(f"Operations source misconfigured: {md(exc)}")
    st.stop()

c1, c2 = st.columns([1, 3])
window_label = c1.selectbox("Window", list(WINDOWS), index=1, key="ops_window")
now = data.now()
end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
start = end - timedelta(hours=WINDOWS[window_label])
c2.caption(
    f"Source: **{config.source}**"
    + (
        f" (API {md(config.api_name)}/{md(config.stage)}, logs {md(config.log_group)})"
        if config.source == "aws"
        else " (the local gateway's counters and logs)"
    )
    + f" · {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, hourly"
)

# --- API: cache, calls, errors, latency -------------------------------------------------------
st.subheader("API and cache")
try:
    periods = _api_metrics(src, config, start, end)
except (DynabError, PyMongoError) as exc:
    st.error(f"Could not read the API figures: {md(exc)}")
    periods = []

if not periods:
    st.info(
        "No API traffic in this window. Send requests through the gateway (`dynab gateway` "
        "and `dynab traffic`, or `dynab run`), or widen the window."
    )
else:
    totals = api_totals(periods)
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Cache hit ratio", _pct(totals.hit_ratio))
    m2.metric("Calls", f"{totals.requests:,}")
    m3.metric("4xx", f"{totals.errors_4xx:,}")
    m4.metric("5xx", f"{totals.errors_5xx:,}")
    m5.metric(
        "Mean latency",
        "—" if totals.latency_avg_ms is None else f"{totals.latency_avg_ms:.1f} ms",
    )
    frame = pd.DataFrame(
        [
            {
                "hour": p.start,
                "calls": p.requests,
                "cache hits": p.cache_hits,
                "cache misses": p.cache_misses,
                "hit ratio": p.hit_ratio,
                "4xx": p.errors_4xx,
                "5xx": p.errors_5xx,
                "p50 ms": p.latency_p50_ms,
                "p90 ms": p.latency_p90_ms,
                "p99 ms": p.latency_p99_ms,
            }
            for p in periods
        ]
    )
    left, right = st.columns(2)
    left.altair_chart(
        alt.Chart(frame.dropna(subset=["hit ratio"]))
        .mark_line(point=True)
        .encode(
            x=alt.X("hour:T", title="hour (UTC)"),
            y=alt.Y("hit ratio:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            tooltip=["hour:T", alt.Tooltip("hit ratio:Q", format=".1%"), "calls:Q"],
        )
        .properties(title="Cache hit ratio", height=260),
        width="stretch",
    )
    calls = frame.melt("hour", ["calls", "4xx", "5xx"], "series", "count")
    right.altair_chart(
        alt.Chart(calls)
        .mark_line(point=True)
        .encode(
            x=alt.X("hour:T", title="hour (UTC)"),
            y=alt.Y("count:Q"),
            color=alt.Color("series:N"),
            tooltip=["hour:T", "series:N", "count:Q"],
        )
        .properties(title="Calls and errors", height=260),
        width="stretch",
    )
    latency = frame.melt("hour", ["p50 ms", "p90 ms", "p99 ms"], "percentile", "ms").dropna()
    if not latency.empty:
        st.altair_chart(
            alt.Chart(latency)
            .mark_line(point=True)
            .encode(
                x=alt.X("hour:T", title="hour (UTC)"),
                y=alt.Y("ms:Q", title="latency (ms)"),
                color=alt.Color("percentile:N"),
                tooltip=["hour:T", "percentile:N", alt.Tooltip("ms:Q", format=".1f")],
            )
            .properties(title="Latency percentiles", height=220),
            width="stretch",
        )
    st.dataframe(frame, hide_index=True, key="ops_api_table")

# --- Model codes returned vs expected ---------------------------------------------------------
st.subheader("Models returned by the selector")
try:
    experiments = data.experiments(src)
    counts = _model_counts(src, config, start, end)
except (DynabError, PyMongoError) as exc:
    st.error(f"Could not read the selector's model counts: {md(exc)}")
    experiments, counts = [], []

if not experiments:
    st.info("No experiments yet: create and start one on the Experiments page.")
else:
    exp = pick_experiment("ops_experiment", experiments)
    served = served_per_model(counts, exp.experiment_id)
    if not served:
        st.info(
            f"The selector returned no model for {exp.experiment_id} in this window "
            "(only cache misses reach the selector)."
        )
    else:
        store = data.get_store()
        history = data.parameter_history(src, exp.experiment_id)
        current = store.get_parameters(exp.experiment_id, exp.model_codes)
        check = check_selections(exp, counts, history, current=current)
        srm = check.srm
        basis = "its static split" if exp.type.value == "static" else "the weights of each batch"
        unit = "members (each member's first selection)" if srm.unit == "members" else "selections"
        if check.mismatch:
            st.error(
                f"Mismatch: the models returned for {exp.experiment_id} do not follow {basis} "
                f"(counted on {unit}; chi² = {srm.chi2:.1f}, p = {srm.p_value:.2g} "
                f"< {srm.threshold:g}). Check the cache, the selector and its parameters."
            )
        else:
            st.success(
                f"The models returned follow {basis} "
                f"(counted on {unit}: p = {srm.p_value:.2g}, {srm.total:,} counted)."
            )
        if srm.excluded:
            st.caption(
                f"{srm.excluded:,} {srm.unit} left out: their log lines name no batch whose "
                "weights are known (older lines, or a batch missing from the history)."
            )
        st.dataframe(
            pd.DataFrame(
                {
                    "model": srm.model_codes,
                    "returned": [check.selections.get(code, 0) for code in srm.model_codes],
                    "counted": srm.observed,
                    "expected": [round(e, 1) for e in srm.expected],
                    "share counted": [o / srm.total if srm.total else 0.0 for o in srm.observed],
                }
            ),
            hide_index=True,
            key="ops_split_table",
        )
        hourly = pd.DataFrame(
            [
                {"hour": h.bin_start, "model": code, "counted": n, "expected": h.expected[code]}
                for h in check.hours
                for code, n in h.observed.items()
            ]
        )
        st.altair_chart(
            alt.Chart(hourly)
            .mark_bar()
            .encode(
                x=alt.X("hour:T", title="hour (UTC)"),
                y=alt.Y("counted:Q", stack=True),
                color=alt.Color("model:N"),
                tooltip=[
                    "hour:T",
                    "model:N",
                    "counted:Q",
                    alt.Tooltip("expected:Q", format=".1f"),
                ],
            )
            .properties(title="Model codes returned per hour", height=240),
            width="stretch",
        )
        st.dataframe(hourly, hide_index=True, key="ops_models_hourly")
    others = sorted(
        {c.reason for c in counts if c.experiment_id == exp.experiment_id}
        - {"bts", "warmup", "static"}
    )
    if others:
        st.caption(
            "Not counted against the split (served on purpose): reasons " + ", ".join(others) + "."
        )

# --- Parameter job ----------------------------------------------------------------------------
st.subheader("Parameter-job runs")
try:
    runs = _job_runs(src)
except (DynabError, PyMongoError) as exc:
    st.error(f"Could not read the job runs: {md(exc)}")
    runs = []
if not runs:
    st.info("No parameter-job run recorded yet (`dynab update-params`, or `dynab run`).")
else:
    last = runs[0]
    j1, j2, j3, j4 = st.columns([3, 2, 2, 2])
    j1.metric("Last run (UTC)", f"{last.finished_at:%m-%d %H:%M}", help=f"{last.finished_at}")
    j2.metric("Duration", f"{last.duration_seconds:.1f} s")
    j3.metric("Events read", f"{last.events:,}")
    j4.metric("Malformed lines", f"{last.malformed_lines:,}")
    if last.status != "succeeded":
        st.error(f"The last run failed: {md(last.error)}")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "batch end": r.batch_end,
                    "started": r.started_at,
                    "duration s": round(r.duration_seconds, 1),
                    "status": r.status,
                    "events": r.events,
                    "hourly rows": r.hourly_rows,
                    "experiments": ", ".join(r.experiments),
                    "malformed lines": r.malformed_lines,
                    "error": r.error or "",
                }
                for r in runs
            ]
        ),
        hide_index=True,
        key="ops_job_runs",
    )
if experiments:
    quality = []
    for e in experiments:
        batches = data.parameter_history(src, e.experiment_id, 1)
        if batches:
            b = batches[-1]
            quality.append(
                {
                    "experiment": e.experiment_id,
                    "last batch": b.batch_id,
                    "written": b.created_at,
                    **{k: v for k, v in sorted((b.data_quality or {}).items())},
                }
            )
    if quality:
        st.caption("Data-quality counts of each experiment's latest parameter batch")
        st.dataframe(pd.DataFrame(quality), hide_index=True, key="ops_batch_quality")

# --- X-Ray ------------------------------------------------------------------------------------
st.subheader("Service map (X-Ray)")
try:
    nodes = _service_map(src, config, start, end)
except (DynabError, PyMongoError) as exc:
    st.error(f"Could not read the X-Ray service map: {md(exc)}")
    nodes = []
if nodes is None:
    st.caption("The embedded stack is not traced; the service map is shown on AWS.")
elif not nodes:
    st.info("X-Ray has no traces in the last 6 hours of this window.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "node": n.name,
                    "type": n.type,
                    "requests": n.requests,
                    "errors (4xx)": n.errors,
                    "throttles": n.throttles,
                    "faults (5xx)": n.faults,
                    "mean latency ms": n.mean_latency_ms,
                    "traces": n.traces,
                    "slowest trace ms": n.max_trace_ms,
                }
                for n in nodes
            ]
        ),
        hide_index=True,
        key="ops_service_map",
    )
