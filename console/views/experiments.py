"""Experiments: list and filter, create or clone, edit a draft, start/pause/resume/stop, audit."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
from pymongo.errors import PyMongoError

from console import data
from console import formats as fmt
from console.access import operator_only, signed_in_user
from console.forms import experiment_form
from console.text import md
from services.exceptions import (
    ConflictError,
    DynabError,
    NotFoundError,
    StaleVersionError,
    TransitionError,
    ValidationError,
)
from services.experiments import Experiment, ExperimentType, Status, validation_errors
from services.lifecycle import Action, allowed_actions

user = signed_in_user()
st.title("Experiments")

src = data.source()
try:
    store = data.get_store()
    areas = data.areas(src)
    experiments = data.experiments(src)
except (DynabError, PyMongoError) as exc:
    st.error(f"MongoDB is not reachable: {md(exc)}")
    st.stop()

flash = st.session_state.pop("experiments_flash", None)
if flash:
    st.success(flash)

if not areas:
    st.info(
        "No areas yet, and an experiment runs in an area. Create the demo areas with "
        "`dynab demo-data` (or start the console with `dynab run`)."
    )
    st.stop()

area_codes = [a.area_code for a in areas]
# The version each experiment had when this session first showed it: an action or edit carries
# it, so that a change someone else made meanwhile is refused rather than overwritten.
seen: dict[str, int] = st.session_state.setdefault("experiments_seen_versions", {})


def changes(entry) -> str:
    """'field: before → after' for each field the audit entry changed."""
    before, after = entry.before or {}, entry.after or {}
    return "; ".join(
        f"{k}: {_short(before.get(k))} → {_short(after.get(k))}" for k in entry.changed_fields()
    )


def _short(value: object, limit: int = 60) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show_errors(errors: Sequence[ValidationError]) -> None:
    """Every field error of a form at once, in one box."""
    if len(errors) == 1:
        st.error(md(f"{errors[0].field}: {errors[0].message}"))
        return
    st.error(
        f"{len(errors)} fields need a change:\n"
        + "\n".join(f"- {md(f'{e.field}: {e.message}')}" for e in errors)
    )


def _done(message: str) -> None:
    data.invalidate()
    st.session_state["experiments_flash"] = message
    st.rerun()


def _apply(
    exp: Experiment, action: str, promoted: str, confirmed: bool, seen_version: int
) -> tuple[str, str]:
    """Apply one lifecycle action; (Streamlit message kind, message) for beside the form."""
    promoted_model = None if promoted == "(none)" else promoted
    if not confirmed:
        return "warning", "Tick the confirmation box to apply the change."
    if promoted_model and action != Action.STOP:
        return "error", "promoted_model: only a stop can name a promoted model"
    try:
        done = store.apply_action(
            exp.experiment_id,
            action,
            expected_version=seen_version,
            by=user.name,
            promoted_model=promoted_model,
        )
    except (StaleVersionError, ConflictError, TransitionError) as exc:
        return "error", f"Not applied: {md(exc)}"
    except ValidationError as exc:
        return "error", md(f"{exc.field}: {exc.message}")
    seen[exp.experiment_id] = done.version
    promoted_note = (
        f"; {exp.area_code} now serves {done.promoted_model} by default"
        if done.promoted_model
        else ""
    )
    return "success", (
        f"{exp.experiment_id} is now {done.status.value} (by {md(user.name)}){md(promoted_note)}."
    )


# --- list ---------------------------------------------------------------------------------
if not experiments:
    st.info(
        "No experiments yet. "
        + ("Create one in the form below." if user.can_act else "Ask an operator to create one.")
    )
else:
    f1, f2, f3, f4 = st.columns(4)
    area_filter = f1.multiselect("Area", area_codes, key="experiments_filter_area")
    status_filter = f2.multiselect(
        "Status", [s.value for s in Status], key="experiments_filter_status"
    )
    type_filter = f3.multiselect(
        "Type", [t.value for t in ExperimentType], key="experiments_filter_type"
    )
    text_filter = f4.text_input("Search id or name", key="experiments_filter_text").strip().lower()
    shown = [
        e
        for e in experiments
        if (not area_filter or e.area_code in area_filter)
        and (not status_filter or e.status.value in status_filter)
        and (not type_filter or e.type.value in type_filter)
        and (not text_filter or text_filter in f"{e.experiment_id} {e.name}".lower())
    ]
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
                    "started": e.started_at,
                    "updated by": e.updated_by,
                    "version": e.version,
                }
                for e in shown
            ],
            columns=[
                "id",
                "name",
                "area",
                "type",
                "status",
                "models",
                "started",
                "updated by",
                "version",
            ],
        ),
        hide_index=True,
        width="stretch",
        key="experiments_table",
    )
    if not shown:
        st.info("No experiment matches the filters; clear them to see all.")
        st.stop()

    # --- one experiment -------------------------------------------------------------------
    pending = st.session_state.pop("experiments_select_next", None)
    if pending in [e.experiment_id for e in shown]:
        st.session_state["experiments_selected"] = pending
    selected_id = st.selectbox(
        "Experiment", [e.experiment_id for e in shown], key="experiments_selected"
    )
    try:
        exp = store.get_experiment(selected_id)
    except NotFoundError:
        st.warning(f"Experiment {md(selected_id)} no longer exists.")
        data.invalidate()
        st.stop()
    seen.setdefault(exp.experiment_id, exp.version)
    seen_version = seen[exp.experiment_id]

    st.subheader(md(f"{exp.experiment_id}: {exp.name}"))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Status", exp.status.value)
    c2.metric("Type", exp.type.value)
    c3.metric("Area", exp.area_code)
    c4.metric("Version", exp.version)
    latest = data.parameter_history(src, exp.experiment_id, limit=1)
    in_force = {a.model_code: a.weight for a in latest[-1].arms} if latest else {}
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "model": a.model_code,
                    "label": a.label,
                    "configured split": fmt.pct(w),
                    "weight in force": fmt.pct(in_force.get(a.model_code))
                    if in_force
                    else fmt.pct(w),
                    "control": a.control,
                    "promoted": a.model_code == exp.promoted_model,
                }
                for a, w in zip(exp.arms, exp.normalised_weights, strict=True)
            ]
        ),
        hide_index=True,
        key="experiments_arms",
        column_config={
            "weight in force": st.column_config.TextColumn(
                help="The serving weight of the latest parameter batch"
                + (f" ({latest[-1].batch_id})" if latest else " (none yet: the configured split)")
            )
        },
    )
    if seen_version != exp.version:
        st.warning(
            f"{exp.experiment_id} changed since you opened it (you saw version {seen_version}, "
            f"it is now version {exp.version}, last changed by {md(exp.updated_by)})."
        )
        if st.button("Reload to the current version", key="experiments_reload"):
            seen[exp.experiment_id] = exp.version
            data.invalidate()
            st.rerun()

    if operator_only(user):
        actions = [a.value for a in allowed_actions(exp.status)]
        form_keys = [
            f"experiments_{name}_{exp.experiment_id}" for name in ("action", "promoted", "confirm")
        ]
        # A confirmation holds for one change, never the next one: every Apply clears the form
        # (here for the server, clear_on_submit for the browser) and shows its result beside it.
        if st.session_state.pop("experiments_action_reset", False):
            for key in form_keys:
                st.session_state.pop(key, None)
        result = st.session_state.pop("experiments_action_result", None)
        if not actions:
            st.caption(f"{exp.experiment_id} is {exp.status.value}: no further action applies.")
        else:
            st.markdown("**Lifecycle**")
            with st.form(f"experiments_action_form_{exp.experiment_id}", clear_on_submit=True):
                action = st.selectbox("Action", actions, key=form_keys[0])
                promoted = st.selectbox(
                    "Promoted model (stop only: the model the area serves by default afterwards)",
                    ["(none)", *exp.model_codes],
                    key=form_keys[1],
                )
                confirmed = st.checkbox(
                    f"I confirm this change to {exp.experiment_id}", key=form_keys[2]
                )
                apply = st.form_submit_button("Apply", type="primary")
            if apply:
                outcome = _apply(exp, action, promoted, confirmed, seen_version)
                st.session_state["experiments_action_reset"] = True
                st.session_state["experiments_action_result"] = outcome
                if outcome[0] == "success":
                    data.invalidate()
                st.rerun()
        if result:
            kind, text = result
            getattr(st, kind)(text)

        if exp.status is Status.DRAFT:
            with st.expander(f"Edit draft {exp.experiment_id}"):
                values = experiment_form(
                    f"experiments_edit_{exp.experiment_id}_v{seen_version}",
                    exp.to_dict(),
                    area_codes,
                    id_editable=False,
                    submit_label="Save draft",
                )
                if values is not None:
                    edit = {
                        # settings the form does not show are kept as they were
                        "decision_rule": exp.decision_rule,
                        "evaluation_window": exp.evaluation_window,
                        **values,
                        "experiment_id": exp.experiment_id,
                        "salt": exp.salt,
                    }
                    try:
                        saved = store.update_experiment(
                            Experiment.from_dict(edit), expected_version=seen_version, by=user.name
                        )
                    except ValidationError as exc:
                        _show_errors(validation_errors(edit) or (exc,))
                    except (ConflictError, TransitionError) as exc:
                        st.error(f"Not saved: {md(exc)}")
                    else:
                        seen[exp.experiment_id] = saved.version
                        _done(f"Draft {exp.experiment_id} saved (version {saved.version}).")

    st.markdown("**Audit history**")
    history = data.audit_history(src, exp.experiment_id)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "at (UTC)": entry.at,
                    "by": entry.by,
                    "action": entry.action,
                    "changed": changes(entry),
                    "version": (entry.after or {}).get("version"),
                }
                for entry in reversed(history)
            ],
            columns=["at (UTC)", "by", "action", "changed", "version"],
        ),
        hide_index=True,
        width="stretch",
        key="experiments_audit",
    )

# --- create or clone ----------------------------------------------------------------------
if user.can_act:
    st.divider()
    st.subheader("Create an experiment")
    templates = ["(blank)", *(e.experiment_id for e in experiments)]
    template = st.selectbox(
        "Start from",
        templates,
        format_func=lambda t: t if t == "(blank)" else f"a clone of {t}",
        key="experiments_create_template",
    )
    initial = None
    if template != "(blank)":
        source_exp = next(e for e in experiments if e.experiment_id == template)
        initial = {
            **source_exp.to_dict(),
            "experiment_id": "",
            "name": f"{source_exp.name} (copy)",
        }
    create_key = f"experiments_create_{template}"
    # After a create the form starts afresh (blank, or the clone's values); after a refusal the
    # values stay for correcting. Widget values live in the session under the form's keys.
    if st.session_state.pop("experiments_create_clear", None) == create_key:
        for key in [k for k in st.session_state if str(k).startswith(f"{create_key}_")]:
            del st.session_state[key]
    values = experiment_form(create_key, initial, area_codes, submit_label="Create draft")
    if values is not None:
        try:
            created = store.create_experiment(Experiment.from_dict(values), by=user.name)
        except ValidationError as exc:
            _show_errors(validation_errors(values) or (exc,))
        except ConflictError as exc:
            st.error(f"Not created: {md(exc)}")
        else:
            seen[created.experiment_id] = created.version
            st.session_state["experiments_select_next"] = created.experiment_id
            st.session_state["experiments_create_clear"] = create_key
            _done(f"Draft {created.experiment_id} created. Start it from the Lifecycle form.")
