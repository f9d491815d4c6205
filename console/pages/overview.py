"""Overview: every area and the experiments in it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from console.data import get_store
from services.exceptions import StoreUnavailableError

st.title("Overview")

try:
    store = get_store()
    areas = store.list_areas()
    experiments = store.list_experiments()
except StoreUnavailableError as exc:
    st.error(f"MongoDB is not reachable: {exc}")
    st.stop()

if not areas:
    st.info("No areas yet. Create the demo areas and experiments with `dynab demo-data`.")
    st.stop()

by_id = {e.experiment_id: e for e in experiments}
st.subheader("Areas")
st.dataframe(
    pd.DataFrame(
        [
            {
                "area": a.area_code,
                "name": a.name,
                "default model": a.default_model,
                "active experiment": a.active_experiment_id or "",
                "status": by_id[a.active_experiment_id].status.value
                if a.active_experiment_id in by_id
                else "",
            }
            for a in areas
        ]
    ),
    hide_index=True,
    key="overview_areas",
)

st.subheader("Experiments")
if not experiments:
    st.info("No experiments yet.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "id": e.experiment_id,
                    "name": e.name,
                    "area": e.area_code,
                    "type": e.type.value,
                    "status": e.status.value,
                    "models": ", ".join(e.model_codes),
                    "version": e.version,
                }
                for e in experiments
            ]
        ),
        hide_index=True,
        key="overview_experiments",
    )
