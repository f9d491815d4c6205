"""Posteriors: each model's Beta posterior, intervals, P(best), loss, and their batch history."""

from __future__ import annotations

import altair as alt
import streamlit as st

from console import data
from console import formats as fmt
from console.access import signed_in_user
from console.text import md
from console.widgets import experiments_or_stop, pick_experiment
from services.reports import (
    density_frame,
    latest_window,
    posterior_table,
    window_counts,
)
from services.reports.order_rates import order_rate_frame
from services.reports.posteriors import params_from_batch, params_from_counts

user = signed_in_user()
st.title("Posteriors")

src = data.source()
experiments = experiments_or_stop(src)

exp = pick_experiment("posteriors_experiment", experiments)
history = data.parameter_history(src, exp.experiment_id)

if history:
    ids = [b.batch_id for b in history]
    chosen = (
        st.select_slider(
            "Parameter batch",
            ids,
            value=ids[-1],
            key=f"posteriors_batch_{exp.experiment_id}",
        )
        if len(ids) > 1
        else ids[0]
    )
    batch = history[ids.index(chosen)]
    params = params_from_batch(batch)
    window = (batch.window_start, batch.window_end)
    st.caption(
        f"Batch {md(batch.batch_id)}: window {batch.window_start:%Y-%m-%d %H:%M} – "
        f"{batch.window_end:%Y-%m-%d %H:%M} UTC"
        + (" (warm-up: traffic follows the configured split)" if batch.warmup else "")
    )
else:
    metrics = data.hourly_metrics(src, exp.experiment_id)
    bounds = latest_window(metrics, exp.evaluation_window_hours)
    if bounds is None:
        st.info(
            f"No parameter batches and no hourly metrics for {exp.experiment_id} yet. Posteriors "
            "appear once the experiment serves traffic and the parameter job has run."
        )
        st.stop()
    params = params_from_counts(window_counts(metrics, exp.model_codes, *bounds))
    window = bounds
    st.caption(
        f"No parameter batch (a static test, or none yet): posteriors from the hourly counts "
        f"of {bounds[0]:%Y-%m-%d %H:00} – {bounds[1]:%Y-%m-%d %H:00} UTC."
    )

table = posterior_table(params)
density = density_frame(params)
st.subheader("Beta posterior of each model's CTR")
fmt.chart(
    st,
    alt.Chart(density)
    .mark_area(opacity=0.35, line=True)
    .encode(
        alt.X("ctr:Q", title="CTR", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        alt.Y("density:Q", title="density", stack=None),
        alt.Color("model_code:N", title="model", scale=alt.Scale(scheme=fmt.PALETTE)),
        tooltip=["model_code:N", alt.Tooltip("ctr:Q", format=".1%"), "density:Q"],
    )
    .properties(height=300),
    f"{exp.experiment_id}-posteriors",
)
shown_table = fmt.posterior_display(table, exp.control_arm.model_code)
# Orders per impression over the same window, beside the CTR (the orders guard's metric).
orders = order_rate_frame(
    data.hourly_metrics(src, exp.experiment_id, *window), exp.model_codes, start=window[0]
).set_index("model_code")
shown_table["Order rate"] = [fmt.pct(orders.loc[m, "order_rate"], 2) for m in shown_table["Model"]]
shown_table["Order rate 95% interval"] = [
    fmt.rate_interval(orders.loc[m, "order_rate_low"], orders.loc[m, "order_rate_high"])
    for m in shown_table["Model"]
]
# Two tables that fit the page: the posteriors, then the order rates (the CSV has both).
fmt.model_tables(shown_table, ["Order rate", "Order rate 95% interval"], "posteriors_table")
fmt.csv_button(st, shown_table, f"{exp.experiment_id}-posteriors")
st.caption(
    "Beta(1 + alpha, 1 + beta): alpha clicks, beta impressions without a click. Order rate: "
    "orders per impression over the same window (95% Wilson interval)."
)

st.subheader("How they moved, batch by batch")
if len(history) < 2:
    st.info("The history appears after the second parameter batch.")
else:
    moves = data.batch_history(src, exp.experiment_id)
    model = alt.Color("model_code:N", title="model", scale=alt.Scale(scheme=fmt.PALETTE))
    when = alt.X("window_end:T", title="batch (end of window, UTC)")
    band = alt.Chart(moves).encode(when, model)
    fmt.chart(
        st,
        band.mark_area(opacity=0.2).encode(
            alt.Y(
                "low:Q",
                title="posterior mean and 95% interval",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(zero=False),
            ),
            alt.Y2("high:Q"),
        )
        + band.mark_line().encode(alt.Y("mean:Q")),
        f"{exp.experiment_id}-posterior-history",
    )
    left, right = st.columns(2)
    with left:
        fmt.chart(
            st,
            band.mark_line()
            .encode(alt.Y("p_best:Q", title="P(best)", axis=alt.Axis(format=".0%")))
            .properties(height=220),
            f"{exp.experiment_id}-p-best",
        )
    with right:
        fmt.chart(
            st,
            band.mark_line()
            .transform_calculate(loss_pp="datum.expected_loss * 100")
            .encode(
                alt.Y("loss_pp:Q", title="expected loss (pp of CTR)", axis=alt.Axis(format=".3f"))
            )
            .properties(height=220),
            f"{exp.experiment_id}-expected-loss",
        )
    st.caption(f"{len(history)} batches, newest last (at most {data.HISTORY_LIMIT} shown).")
