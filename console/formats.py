"""One number format for every page: CTRs and intervals as percentages with one decimal, P(best)
as a percentage, lift as a signed percentage, expected loss in percentage points of CTR; human
column names with help text; charts that can be saved as PNG/SVG.

Pure presentation helpers (pandas and Altair only) except :func:`chart`, which draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

#: Shown in place of a figure that does not apply (e.g. the control's lift over itself).
NOT_APPLICABLE = "—"

#: A fixed categorical palette: ten colours told apart, in the same order on every page.
PALETTE = "tableau10"

HELP = {
    "ctr": "Click-through rate: clicks / impressions.",
    "interval": "95% credible interval of the CTR (Beta posterior): the true CTR lies in it "
    "with 95% probability.",
    "p_best": "P(best): the probability that this model has the highest true CTR of all "
    "models, given the data.",
    "expected_loss": "Expected loss: the CTR given up, on average over the posterior, by "
    "serving this model instead of the best one; in percentage points (pp) of CTR. "
    "0.000 pp means nothing to lose.",
    "lift": "Lift: relative CTR difference to the control, (CTR − control CTR) / control CTR.",
    "lift_interval": "95% credible interval of the lift (Monte Carlo draws from the posteriors).",
    "p_better": "Probability that this model's true CTR beats the control's.",
    "role": "The control is the model every other one is compared with.",
}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pct(value: Any, decimals: int = 1) -> str:
    """0.0671 → '6.7%'; missing → '—'."""
    return NOT_APPLICABLE if _missing(value) else f"{float(value) * 100:.{decimals}f}%"


def signed_pct(value: Any, decimals: int = 1) -> str:
    """0.032 → '+3.2%'; missing → '—'."""
    return NOT_APPLICABLE if _missing(value) else f"{float(value) * 100:+.{decimals}f}%"


def pp(value: Any, decimals: int = 3) -> str:
    """An absolute CTR difference in percentage points: 0.00115 → '0.115 pp'."""
    return NOT_APPLICABLE if _missing(value) else f"{float(value) * 100:.{decimals}f} pp"


def interval(low: Any, high: Any, *, signed: bool = False) -> str:
    """'6.1% – 7.3%' (or signed for a lift); '—' when either end is missing."""
    if _missing(low) or _missing(high):
        return NOT_APPLICABLE
    f = signed_pct if signed else pct
    return f"{f(low)} – {f(high)}"


def rate_interval(low: Any, high: Any) -> str:
    """A small rate's interval (orders per impression) to two decimals: '0.31% – 0.46%'."""
    if _missing(low) or _missing(high):
        return NOT_APPLICABLE
    return f"{pct(low, 2)} – {pct(high, 2)}"


def role(is_control: Any) -> str:
    return "control" if bool(is_control) else NOT_APPLICABLE


def column_config(columns: Mapping[str, str]) -> dict[str, Any]:
    """Streamlit column configs (label kept, help text attached) for the columns named in
    ``columns``: display name → key of :data:`HELP`."""
    import streamlit as st

    return {name: st.column_config.Column(name, help=HELP[key]) for name, key in columns.items()}


# --- tables ---------------------------------------------------------------------------------

#: Help keys of the columns the model tables show (Winners and Posteriors).
MODEL_COLUMNS_HELP = {
    "Role": "role",
    "CTR": "ctr",
    "CTR 95% interval": "interval",
    "Lift vs control": "lift",
    "Lift 95% interval": "lift_interval",
    "P(best)": "p_best",
    "Expected loss": "expected_loss",
    "P(better than control)": "p_better",
    "Pooled CTR": "ctr",
    "Pooled P(best)": "p_best",
    "Posterior mean CTR": "ctr",
}


#: Columns of the decision table shown beside the rule's own figures, in a table of their own.
BESIDE_COLUMNS = ["Pooled CTR", "Pooled P(best)", "Order rate", "Order rate 95% interval"]


#: Columns of the window table shown in a table of their own, beside the models' figures.
LIFT_COLUMNS = ["Lift vs control", "Lift 95% interval", "P(better than control)"]


def decision_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The Winners decision table (from ``services.reports.decision.decision_frame``) with
    human column names and the one number format."""
    rows = []
    for r in frame.to_dict("records"):
        rows.append(
            {
                "Model": r["model"],
                "Role": role(r["control"]),
                "Impressions": int(r["impressions"]),
                "Clicks": int(r["clicks"]),
                "CTR": pct(r["stratified ctr"]),
                "CTR 95% interval": interval(r["stratified low"], r["stratified high"]),
                "Lift vs control": NOT_APPLICABLE if r["control"] else signed_pct(r["lift"]),
                "Lift 95% interval": NOT_APPLICABLE
                if r["control"]
                else interval(r["lift low"], r["lift high"], signed=True),
                "P(best)": pct(r["p_best"]),
                "Expected loss": pp(r["expected_loss"]),
                "Pooled CTR": pct(r["pooled ctr"]),
                "Pooled P(best)": pct(r["pooled p_best"]),
                "Order rate": pct(r.get("order rate"), 2),
                "Order rate 95% interval": rate_interval(
                    r.get("order rate low"), r.get("order rate high")
                ),
            }
        )
    return pd.DataFrame(rows)


def realtime_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The Winners window table (``RealtimeWinner.frame()``) in the one number format."""
    rows = []
    for r in frame.to_dict("records"):
        control = bool(r["control"])
        rows.append(
            {
                "Model": r["model_code"],
                "Role": role(control),
                "Impressions": int(r["impressions"]),
                "Clicks": int(r["clicks"]),
                "CTR": pct(r["ctr"]),
                "CTR 95% interval": interval(r["ctr_low"], r["ctr_high"]),
                "Lift vs control": NOT_APPLICABLE if control else signed_pct(r["lift"]),
                "Lift 95% interval": NOT_APPLICABLE
                if control
                else interval(r["lift_low"], r["lift_high"], signed=True),
                "P(better than control)": NOT_APPLICABLE
                if control
                else pct(r["p_better_than_control"]),
                "P(best)": pct(r["p_best"]),
                "Expected loss": pp(r["expected_loss"]),
            }
        )
    return pd.DataFrame(rows)


def posterior_display(frame: pd.DataFrame, control: str | None = None) -> pd.DataFrame:
    """The Posteriors table (``posterior_table``) in the one number format."""
    rows = []
    for r in frame.to_dict("records"):
        rows.append(
            {
                "Model": r["model_code"],
                "Role": role(r["model_code"] == control),
                "Clicks (alpha)": int(r["alpha"]),
                "Non-clicks (beta)": int(r["beta"]),
                "Posterior mean CTR": pct(r["mean"]),
                "CTR 95% interval": interval(r["low"], r["high"]),
                "P(best)": pct(r["p_best"]),
                "Expected loss": pp(r["expected_loss"]),
            }
        )
    return pd.DataFrame(rows)


def table_help(frame: pd.DataFrame) -> dict[str, Any]:
    """Column configs with help text for the model-table columns ``frame`` has."""
    names = {c: MODEL_COLUMNS_HELP[c] for c in frame.columns if c in MODEL_COLUMNS_HELP}
    return column_config(names)


def model_tables(
    frame: pd.DataFrame, second: list[str], key: str, caption: str | None = None
) -> None:
    """``frame`` as two tables that fit the page at 1,400 px (one table of every column needs a
    horizontal scroll): every column but ``second``, then the model and ``second``, with
    ``caption`` between them. Keys ``key`` and ``key``_2; export the whole ``frame`` as CSV."""
    import streamlit as st

    for part, part_key in ((frame.drop(columns=second), key), (frame[["Model", *second]], None)):
        if part_key is None and caption:
            st.caption(caption)
        st.dataframe(
            part,
            hide_index=True,
            width="stretch",
            key=part_key or f"{key}_2",
            column_config=table_help(part),
        )


# --- charts and tables, exportable ----------------------------------------------------------
# Streamlit switches Vega-Embed's own "Save as PNG/SVG" menu off, so each chart gets two download
# buttons whose files are rendered on the server (vl-convert) only when clicked.


def chart_svg(chart_: alt.TopLevelMixin) -> str:
    import vl_convert

    return vl_convert.vegalite_to_svg(chart_.to_dict())


def chart_png(chart_: alt.TopLevelMixin) -> bytes:
    import vl_convert

    return vl_convert.vegalite_to_png(chart_.to_dict(), scale=2)


def chart(container: Any, chart_: alt.TopLevelMixin, name: str, **kwargs: Any) -> Any:
    """Draw an Altair chart full width in ``container`` (``st`` or a column), with PNG and SVG
    download buttons (keys ``export_png_<name>`` / ``export_svg_<name>``)."""
    kwargs.setdefault("width", "stretch")
    drawn = container.altair_chart(chart_, **kwargs)
    # Files are drawn at a fixed width ("stretch" has no width off-screen).
    fixed = chart_.properties(width=720) if not _is_compound(chart_) else chart_
    # A row sized by its buttons, not columns: in a half-width column, fixed column shares
    # left the buttons too narrow for their labels.
    row = container.container(horizontal=True, gap="small")
    row.download_button(
        "PNG",
        data=lambda: chart_png(fixed),
        file_name=f"{name}.png",
        mime="image/png",
        key=f"export_png_{name}",
        on_click="ignore",
        icon=":material/download:",
    )
    row.download_button(
        "SVG",
        data=lambda: chart_svg(fixed),
        file_name=f"{name}.svg",
        mime="image/svg+xml",
        key=f"export_svg_{name}",
        on_click="ignore",
        icon=":material/download:",
    )
    return drawn


def _is_compound(chart_: alt.TopLevelMixin) -> bool:
    return isinstance(chart_, (alt.HConcatChart, alt.VConcatChart, alt.ConcatChart))


def csv_button(container: Any, frame: pd.DataFrame, name: str, label: str = "CSV") -> None:
    """A download button for ``frame`` as CSV (key ``export_csv_<name>``). Every table's own
    toolbar offers the same; this one is visible without hovering."""
    container.download_button(
        label,
        data=lambda: frame.to_csv(index=False),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"export_csv_{name}",
        on_click="ignore",
        icon=":material/download:",
    )


#: Display names of the plain columns the pages' tables share.
NAMES = {
    "day": "Day (UTC)",
    "hour": "Hour (UTC)",
    "model_code": "Model",
    "leader": "Leader",
    "impressions": "Impressions",
    "clicks": "Clicks",
    "orders": "Orders",
    "ctr": "CTR",
    "p_best": "P(best)",
    "expected_loss": "Expected loss",
}


def humanise(frame: pd.DataFrame, percent: tuple[str, ...] = ("ctr", "p_best")) -> pd.DataFrame:
    """``frame`` with the shared display names and its ``percent`` columns as percentages."""
    out = frame.copy()
    for c in percent:
        if c in out.columns:
            out[c] = [pct(v) for v in out[c]]
    if "expected_loss" in out.columns:
        out["expected_loss"] = [pp(v) for v in out["expected_loss"]]
    return out.rename(columns=NAMES)
