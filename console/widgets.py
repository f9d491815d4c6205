"""Small widgets several pages share (none inside a cached function)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from pymongo.errors import PyMongoError

from console import data
from console.text import md
from services.exceptions import DynabError
from services.experiments import Experiment, Status

_ORDER = {Status.RUNNING: 0, Status.PAUSED: 1, Status.STOPPED: 2, Status.DRAFT: 3}


def pick_experiment(key: str, experiments: Sequence[Experiment]) -> Experiment:
    """A selectbox of experiments, running ones first; the choice is kept across pages."""
    ordered = sorted(experiments, key=lambda e: (_ORDER[e.status], e.experiment_id))
    ids = [e.experiment_id for e in ordered]
    # Carry the experiment chosen on another page over to this one.
    last = st.session_state.get("console_experiment")
    if key not in st.session_state and last in ids:
        st.session_state[key] = last
    chosen = st.selectbox(
        "Experiment",
        ids,
        format_func=lambda i: (
            f"{i} — {next(e for e in ordered if e.experiment_id == i).name} "
            f"({next(e for e in ordered if e.experiment_id == i).status.value})"
        ),
        key=key,
    )
    st.session_state["console_experiment"] = chosen
    return next(e for e in ordered if e.experiment_id == chosen)


def experiments_or_stop(src: data.Source) -> list[Experiment]:
    """Every experiment; or the page says what is wrong or what to do next, and stops."""
    try:
        experiments = data.experiments(src)
    except (DynabError, PyMongoError) as exc:
        st.error(f"MongoDB is not reachable: {md(exc)}")
        st.stop()
    if not experiments:
        st.info("No experiments yet: create and start one on the Experiments page.")
        st.stop()
    return experiments
