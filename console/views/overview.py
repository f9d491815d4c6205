"""Overview: every area, its experiment, who leads, how fresh the parameters are, alerts."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st
from pymongo.errors import PyMongoError

from console import data
from console.access import signed_in_user
from console.formats import HELP, NOT_APPLICABLE
from console.text import md
from services.clock import floor_hour
from services.exceptions import DynabError
from services.guardrails.apply import re_enable_model
from services.guardrails.incidents import group_incidents
from services.mongo.incidents import acknowledge_incident
from services.reports import latest_window, summarise_area, window_counts
from services.reports.overview import DATA_QUALITY_THRESHOLD

user = signed_in_user()
st.title("Overview")

src = data.source()
try:
    areas = data.areas(src)
    experiments = data.experiments(src)
except (DynabError, PyMongoError) as exc:
    st.error(f"MongoDB is not reachable: {md(exc)}")
    st.stop()

if not areas:
    st.info(
        "No areas yet. Create the demo areas and experiments with `dynab demo-data` (or start "
        "everything with `dynab run`)."
    )
    st.stop()

try:
    dq_threshold = int(st.secrets.get("console", {}).get("data_quality_threshold", 0)) or (
        DATA_QUALITY_THRESHOLD
    )
except FileNotFoundError:
    dq_threshold = DATA_QUALITY_THRESHOLD
now = data.now()
by_id = {e.experiment_id: e for e in experiments}
summaries = []
for area in areas:
    exp = by_id.get(area.active_experiment_id or "")
    batch = None
    window = None
    if exp is not None:
        history = data.parameter_history(src, exp.experiment_id, limit=1)
        batch = history[-1] if history else None
        if batch is None:
            # Only the recent past can hold the current window; loading months of hourly rows
            # for every area would make the overview slow.
            since = floor_hour(now) - timedelta(hours=2 * exp.evaluation_window_hours)
            metrics = data.hourly_metrics(src, exp.experiment_id, start=since)
            bounds = latest_window(metrics, exp.evaluation_window_hours)
            if bounds:
                window = window_counts(metrics, exp.model_codes, *bounds)
    summaries.append(
        summarise_area(area, exp, batch, window, now, data_quality_threshold=dq_threshold)
    )

running = sum(1 for s in summaries if s.status is not None and s.status.value == "running")
paused = sum(1 for s in summaries if s.status is not None and s.status.value == "paused")
alerts = [(s.area_code, a) for s in summaries for a in s.alerts]
incidents = data.open_incidents(src)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Areas", len(areas))
c2.metric("Running", running)
c3.metric("Paused", paused)
c4.metric("Alerts", len(alerts) + len(incidents))

for area_code, alert in alerts:
    message = f"**{md(area_code)}** — {md(alert.message)}"
    if alert.kind in ("srm", "stale"):
        st.error(message)
    else:
        st.warning(message)

# --- guardrail incidents: by area, most severe first; operators acknowledge (audited) -----------
if incidents:
    st.subheader("Incidents")
    for area_code, severity, items in group_incidents(incidents):
        st.markdown(f"**{md(area_code)}** · {md(severity)} ({len(items)})")
        for incident in items:
            text, button = st.columns([6, 1])
            repeats = f" (seen {incident.repeats + 1} times)" if incident.repeats else ""
            message = (
                f"{incident.created_at:%Y-%m-%d %H:%M} UTC · {md(incident.experiment_id)} · "
                f"{md(incident.rule)}: {md(incident.message)}{repeats}"
            )
            (text.error if severity == "critical" else text.warning)(message)
            if not user.can_act:
                continue
            if button.button("Acknowledge", key=f"ack_{incident.incident_id}", help="Audited"):
                try:
                    acknowledge_incident(data.get_store(), incident.incident_id, by=user.name)
                except DynabError as exc:
                    st.error(md(exc))
                else:
                    data.invalidate()
                    st.rerun()
            exp = by_id.get(incident.experiment_id)
            if (
                exp is not None
                and incident.model_code is not None
                and incident.model_code in exp.disabled_models
                and button.button(
                    "Re-enable",
                    key=f"enable_{incident.incident_id}",
                    help=f"Serve {incident.model_code} again (audited)",
                )
            ):
                try:
                    re_enable_model(
                        data.get_store(),
                        exp.experiment_id,
                        incident.model_code,
                        expected_version=exp.version,
                        by=user.name,
                    )
                except DynabError as exc:
                    st.error(md(exc))
                else:
                    data.invalidate()
                    st.rerun()

st.subheader("Areas")
defaults = {a.area_code: a.default_model for a in areas}
st.dataframe(
    pd.DataFrame(
        [
            {
                "area": s.area_code,
                "name": s.area_name,
                "default model": defaults.get(s.area_code, ""),
                "experiment": s.experiment_id or "",
                "status": s.status.value if s.status else "idle",
                "type": s.type.value if s.type else "",
                "leader": s.leader.model_code if s.leader else "",
                # In percent: the progress column's own "percent" format has two decimals,
                # every other page shows one.
                "P(best)": 100 * s.leader.p_best if s.leader else None,
                "last batch (UTC)": (
                    f"{s.last_batch_at:%m-%d %H:%M}" if s.last_batch_at else NOT_APPLICABLE
                ),
                "stale": s.stale,
            }
            for s in summaries
        ]
    ),
    hide_index=True,
    width="stretch",
    key="overview_areas",
    column_config={
        # Widths that fit every column beside the sidebar on a 1400-pixel screen.
        "area": st.column_config.TextColumn(width=60),
        "name": st.column_config.TextColumn(width=175),
        "default model": st.column_config.TextColumn(
            width=130, help="The model the area serves when no experiment runs there"
        ),
        "experiment": st.column_config.TextColumn(width=70),
        "status": st.column_config.TextColumn(
            width=65, help="The area's experiment: running or paused; idle when it has none"
        ),
        "type": st.column_config.TextColumn(width=65),
        "leader": st.column_config.TextColumn(width=130),
        "P(best)": st.column_config.ProgressColumn(
            min_value=0.0, max_value=100.0, format="%.1f%%", width=80, help=HELP["p_best"]
        ),
        "last batch (UTC)": st.column_config.TextColumn(width=95),
        "stale": st.column_config.CheckboxColumn(
            width=45, help="No parameter batch within the expected interval"
        ),
    },
)
if not any(s.experiment_id for s in summaries):
    st.info(
        "No area runs an experiment. "
        + (
            "Create and start one on the Experiments page."
            if user.can_act
            else "An operator can start one on the Experiments page."
        )
    )

st.subheader("Experiments by status")
if not experiments:
    st.info("No experiments yet: create one on the Experiments page.")
else:
    counts = pd.Series([e.status.value for e in experiments]).value_counts()
    st.dataframe(
        counts.rename_axis("status").reset_index(name="experiments"),
        hide_index=True,
        key="overview_status_counts",
    )
