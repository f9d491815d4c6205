"""The experiment form shared by create, clone and edit (widgets only; validation is the
services' own: the form hands back a dict for ``Experiment.from_dict``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from services.experiments import MAX_ARMS, ExperimentType, ServingMode
from services.guardrails.rules import LABELS as GUARDRAIL_LABELS
from services.guardrails.rules import GuardrailRules

_DEFAULTS: dict[str, Any] = {
    "experiment_id": "",
    "name": "",
    "area_code": None,
    "type": ExperimentType.DYNAMIC.value,
    "arms": [
        {"model_code": "", "label": "", "weight": 1.0, "control": True},
        {"model_code": "", "label": "", "weight": 1.0, "control": False},
    ],
    "batch_interval_minutes": 60,
    "evaluation_window_hours": 24,
    "warmup_hours": 6.0,
    "warmup_min_impressions": 1000,
    "exposure_floor": 0.0,
    "serving_mode": ServingMode.DRAW.value,
    "cache_ttl_seconds": 300,
    "description": "",
}


def experiment_form(
    key: str,
    initial: Mapping[str, Any] | None,
    area_codes: Sequence[str],
    *,
    id_editable: bool = True,
    submit_label: str = "Save",
) -> dict[str, Any] | None:
    """Draw the form under widget keys ``{key}_*``; return its values when submitted.

    The number of arms is chosen outside the form, since a form only reruns the page on submit.
    """
    values = {**_DEFAULTS, **(initial or {})}
    arms = [dict(a) for a in values["arms"]] or _DEFAULTS["arms"]
    n_arms = int(
        st.number_input(
            "Number of models (arms)",
            min_value=2,
            max_value=MAX_ARMS,
            value=max(2, min(len(arms), MAX_ARMS)),
            key=f"{key}_n_arms",
        )
    )
    arms += [{"model_code": "", "label": "", "weight": 1.0, "control": False}] * (
        n_arms - len(arms)
    )
    types = [t.value for t in ExperimentType]
    modes = [m.value for m in ServingMode]
    with st.form(f"{key}_form"):
        left, right = st.columns(2)
        experiment_id = left.text_input(
            "Experiment id",
            value=values["experiment_id"],
            disabled=not id_editable,
            help="Like EXP-07: capitals, digits and dashes.",
            key=f"{key}_experiment_id",
        )
        name = right.text_input("Name", value=values["name"], key=f"{key}_name")
        area_index = (
            list(area_codes).index(values["area_code"]) if values["area_code"] in area_codes else 0
        )
        area_code = left.selectbox("Area", area_codes, index=area_index, key=f"{key}_area_code")
        exp_type = right.selectbox(
            "Type",
            types,
            index=types.index(values["type"]) if values["type"] in types else 0,
            help="dynamic: batched Thompson sampling moves traffic to the better CTR; "
            "static: a fixed split (e.g. 5:5) for the whole test.",
            key=f"{key}_type",
        )
        st.markdown(
            "**Models** (weights are the static split, or the warm-up split of a dynamic test)"
        )
        arm_values = []
        for i in range(n_arms):
            c1, c2, c3 = st.columns([3, 3, 1])
            arm_values.append(
                {
                    "model_code": c1.text_input(
                        f"Model {i + 1} code",
                        value=arms[i]["model_code"],
                        key=f"{key}_arm{i}_model_code",
                    ),
                    "label": c2.text_input(
                        f"Model {i + 1} label", value=arms[i]["label"], key=f"{key}_arm{i}_label"
                    ),
                    "weight": c3.number_input(
                        f"Weight {i + 1}",
                        value=float(arms[i]["weight"]),
                        step=1.0,
                        key=f"{key}_arm{i}_weight",
                    ),
                }
            )
        control_default = next((i for i, a in enumerate(arms[:n_arms]) if a.get("control")), 0)
        control = st.selectbox(
            "Control model",
            list(range(n_arms)),
            index=control_default,
            format_func=lambda i: f"Model {i + 1}",
            key=f"{key}_control",
        )
        for i, arm in enumerate(arm_values):
            arm["control"] = i == control
        with st.expander("Bandit and serving settings"):
            a, b = st.columns(2)
            batch = a.number_input(
                "Batch interval (minutes)",
                value=int(values["batch_interval_minutes"]),
                step=15,
                key=f"{key}_batch_interval_minutes",
            )
            window = b.number_input(
                "Evaluation window (hours)",
                value=int(values["evaluation_window_hours"]),
                step=1,
                key=f"{key}_evaluation_window_hours",
            )
            warmup = a.number_input(
                "Warm-up (hours)",
                value=float(values["warmup_hours"]),
                step=1.0,
                key=f"{key}_warmup_hours",
            )
            warmup_min = b.number_input(
                "Warm-up minimum impressions per model",
                value=int(values["warmup_min_impressions"]),
                step=100,
                key=f"{key}_warmup_min_impressions",
            )
            floor = a.number_input(
                "Exposure floor per model (share)",
                value=float(values["exposure_floor"]),
                step=0.01,
                format="%.3f",
                key=f"{key}_exposure_floor",
            )
            mode = b.selectbox(
                "Serving mode",
                modes,
                index=modes.index(values["serving_mode"]) if values["serving_mode"] in modes else 0,
                key=f"{key}_serving_mode",
            )
            ttl = a.number_input(
                "Gateway cache TTL (seconds)",
                value=int(values["cache_ttl_seconds"]),
                step=60,
                key=f"{key}_cache_ttl_seconds",
            )
        guardrails = _guardrail_fields(key, values.get("guardrails"))
        description = st.text_area(
            "Description", value=values.get("description", ""), key=f"{key}_description"
        )
        submitted = st.form_submit_button(submit_label, type="primary")
    if not submitted:
        return None
    return {
        "experiment_id": experiment_id.strip(),
        "name": name.strip(),
        "area_code": area_code,
        "type": exp_type,
        "arms": [{**a, "model_code": a["model_code"].strip()} for a in arm_values],
        "batch_interval_minutes": int(batch),
        "evaluation_window_hours": int(window),
        "warmup_hours": float(warmup),
        "warmup_min_impressions": int(warmup_min),
        "exposure_floor": float(floor),
        "serving_mode": mode,
        "cache_ttl_seconds": int(ttl),
        "guardrails": guardrails,
        "description": description,
    }


def _guardrail_fields(key: str, initial: Mapping[str, Any] | None) -> dict[str, Any]:
    """The guardrail settings (defaults shown); the values go to ``GuardrailRules``."""
    try:
        current = GuardrailRules.from_dict(initial).to_dict()
    except Exception:  # an invalid stored value: show the defaults, validation will say
        current = GuardrailRules().to_dict()
    out: dict[str, Any] = {}
    with st.expander("Guardrails (automatic switch-off, pause, held batches, alerts)"):
        out["enabled"] = st.checkbox(
            GUARDRAIL_LABELS["enabled"], value=bool(current["enabled"]), key=f"{key}_gr_enabled"
        )
        a, b = st.columns(2)
        for i, (name, value) in enumerate((n, v) for n, v in current.items() if n != "enabled"):
            col = a if i % 2 == 0 else b
            if isinstance(value, int):
                out[name] = int(
                    col.number_input(
                        GUARDRAIL_LABELS[name], value=value, step=1, key=f"{key}_gr_{name}"
                    )
                )
            else:
                out[name] = float(
                    col.number_input(
                        GUARDRAIL_LABELS[name],
                        value=float(value),
                        step=0.01,
                        format="%.3f",
                        key=f"{key}_gr_{name}",
                    )
                )
    return out
