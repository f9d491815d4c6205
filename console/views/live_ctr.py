"""Live CTR: hourly CTR per model, traffic share, cumulative CTR, and the counts behind them."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from console import data
from console import formats as fmt
from console.access import signed_in_user
from console.widgets import experiments_or_stop, pick_experiment
from services.reports import hourly_frame
from services.reports.order_rates import order_rate_frame
from services.reports.rollups import by_day

user = signed_in_user()
st.title("Live CTR")

src = data.source()
experiments = experiments_or_stop(src)

exp = pick_experiment("live_ctr_experiment", experiments)
metrics = data.hourly_metrics(src, exp.experiment_id)
if not metrics:
    st.info(
        f"No hourly metrics for {exp.experiment_id} yet. They appear once the experiment serves "
        "traffic and the parameter job has aggregated it (`dynab traffic`, then "
        "`dynab update-params`, or `dynab run`, which does both)."
    )
    st.stop()

first_day = metrics[0].hour.date()
last_day = metrics[-1].hour.date()
c1, c2, c3 = st.columns([2, 1, 1])
picked = c1.date_input(
    "Dates (UTC)",
    value=(max(first_day, last_day - timedelta(days=6)), last_day),
    min_value=first_day,
    max_value=last_day,
    key=f"live_ctr_dates_{exp.experiment_id}",
)
auto = c2.toggle("Auto-refresh", key="live_ctr_auto_refresh")
every = c3.selectbox(
    "Every", [30, 60, 300], index=1, format_func=lambda s: f"{s} s", key="live_ctr_every"
)
start_day, end_day = picked if isinstance(picked, tuple) and len(picked) == 2 else (picked, picked)
if isinstance(start_day, tuple):  # a range still being picked (one date so far)
    start_day = end_day = start_day[0]
start = datetime.combine(start_day, time())
end = datetime.combine(end_day, time()) + timedelta(days=1)

HOUR = alt.X("hour:T", title="hour (UTC)", axis=alt.Axis(format="%b %d %H:00", labelAngle=-30))
DAY = alt.X("hour:T", title="day (UTC)", axis=alt.Axis(format="%b %d", labelAngle=-30))
#: Ranges longer than this are charted by day.
DAILY_AFTER_DAYS = 14
MODEL = alt.Color("model_code:N", title="model", scale=alt.Scale(scheme=fmt.PALETTE))
#: Audit actions marked on the time axis; a guardrail's changes are marked as "guardrail".
MARKED = {"pause", "resume", "stop", "start"}


def wilson(clicks: pd.Series, n: pd.Series, z: float = 1.96) -> tuple[pd.Series, pd.Series]:
    """95% Wilson score interval of clicks / n (0 impressions: no band)."""
    n = n.where(n > 0)
    p = clicks / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


def markers(start: datetime, end: datetime) -> pd.DataFrame:
    """Pauses, resumes, starts, stops and guardrail actions between ``start`` and ``end``."""
    rows = [
        {"at": e.at, "what": "guardrail" if e.by == "guardrail" else e.action, "by": e.by}
        for e in data.audit_history(src, exp.experiment_id)
        if start <= e.at < end and (e.action in MARKED or e.by == "guardrail")
    ]
    return pd.DataFrame(rows, columns=["at", "what", "by"])


@st.fragment(run_every=every if auto else None)
def live_charts() -> None:
    # The chosen dates out of the experiment's hours, already read (and cached) above: one
    # query per page instead of two.
    rows = [m for m in data.hourly_metrics(src, exp.experiment_id) if start <= m.hour < end]
    # A long range is drawn a point a day (its hours summed), so a quarter stays readable.
    daily = end - start > timedelta(days=DAILY_AFTER_DAYS)
    step = "day" if daily else "hour"
    frame = hourly_frame(by_day(rows) if daily else rows, exp.model_codes)
    if frame.empty:
        st.info("No traffic in the chosen dates: widen the date range.")
        return
    tooltip = [
        "hour:T",
        "model_code:N",
        "impressions:Q",
        "clicks:Q",
        alt.Tooltip("ctr:Q", format=".2%"),
    ]
    st.subheader("Daily CTR" if daily else "Hourly CTR")
    frame["ctr_low"], frame["ctr_high"] = wilson(frame["clicks"], frame["impressions"])
    ctr_y = alt.Y("ctr:Q", title="CTR (95% band)", axis=alt.Axis(format=".1%"))
    when = DAY if daily else HOUR
    hourly = alt.Chart(frame).mark_area(opacity=0.15).encode(
        when, alt.Y("ctr_low:Q", axis=alt.Axis(format=".1%")), alt.Y2("ctr_high:Q"), MODEL
    ) + alt.Chart(frame).mark_line(point=len(frame) < 400).encode(
        when, ctr_y, MODEL, tooltip=tooltip
    )
    marks = markers(start, end)
    if not marks.empty:
        hourly = hourly + alt.Chart(marks).mark_rule(strokeDash=[4, 3], color="#555").encode(
            alt.X("at:T"), tooltip=["at:T", "what:N", "by:N"]
        )
    fmt.chart(st, hourly.properties(height=280), f"{exp.experiment_id}-hourly-ctr")
    left, right = st.columns(2)
    with left:
        st.subheader("Traffic share")
        fmt.chart(
            st,
            alt.Chart(frame)
            .mark_area()
            .encode(
                when,
                alt.Y(
                    "traffic_share:Q",
                    stack="normalize",
                    title="share of impressions",
                    axis=alt.Axis(format="%"),
                ),
                MODEL,
                tooltip=["hour:T", "model_code:N", alt.Tooltip("traffic_share:Q", format=".1%")],
            )
            .properties(height=240),
            f"{exp.experiment_id}-traffic-share",
        )
    with right:
        st.subheader("Cumulative CTR")
        fmt.chart(
            st,
            alt.Chart(frame)
            .mark_line()
            .encode(
                when,
                alt.Y(
                    "cumulative_ctr:Q",
                    title=f"CTR since the first {step} shown",
                    axis=alt.Axis(format="%"),
                    scale=alt.Scale(zero=False),
                ),
                MODEL,
                tooltip=["hour:T", "model_code:N", alt.Tooltip("cumulative_ctr:Q", format=".2%")],
            )
            .properties(height=240),
            f"{exp.experiment_id}-cumulative-ctr",
        )
    st.subheader("Totals")
    # Orders per impression with its 95% interval beside the CTR (the orders guard's metric).
    totals = order_rate_frame(rows, exp.model_codes)
    totals = totals[totals["impressions"] > 0]
    percent = {
        name: st.column_config.NumberColumn(label, format="percent")
        for name, label in (
            ("ctr", "CTR"),
            ("order_rate", "Order rate"),
            ("order_rate_low", "Order rate 95% low"),
            ("order_rate_high", "Order rate 95% high"),
        )
    }
    st.dataframe(totals, hide_index=True, key="live_ctr_totals", column_config=percent)
    with st.expander("Daily table" if daily else "Hourly table"):
        table = frame[["hour", "model_code", "impressions", "clicks", "orders", "ctr"]]
        st.dataframe(
            table.sort_values(["hour", "model_code"], ascending=[False, True]),
            hide_index=True,
            key="live_ctr_hourly",
        )
    st.caption(
        f"{exp.experiment_id}: {len(frame['hour'].unique())} {step}s shown"
        + (f" (a point a day beyond {DAILY_AFTER_DAYS} days)" if daily else "")
        + f"; newest {pd.Timestamp(frame['hour'].max()):%Y-%m-%d %H:00} UTC."
    )


live_charts()
