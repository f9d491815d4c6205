"""``dynab simulate`` and the Simulator console page, on small scenarios."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dynab.cli import main

PAGE = str(Path(__file__).resolve().parents[2] / "console" / "views" / "simulator.py")


def test_simulate_prints_the_table_and_writes_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "out.csv"
    code = main(
        [
            "simulate",
            "--seeds",
            "4",
            "--days",
            "1",
            "--impressions-per-hour",
            "200",
            "--algorithms",
            "static,bts",
            "--csv",
            str(csv),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "static" in out and "bts 60m" in out and "vs static" in out
    assert "24/24 hours" in err  # progress
    frame = pd.read_csv(csv)
    assert frame["algorithm"].tolist() == ["static", "bts 60m"]
    assert frame.loc[0, "regret vs static"] == 1.0


@pytest.mark.parametrize(
    "argv",
    [["--algorithms", "greedy"], ["--ctrs", "0.1,2"], ["--seeds", "0"], ["--floor", "0.6"]],
)
def test_simulate_bad_input_is_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--days", "1", "--seeds", "1", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dynab simulate: error:")


def test_simulator_page_renders_summary_and_charts() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth_user"] = {"name": "ana", "role": "analyst"}
    at.session_state["sim_seeds"] = 3
    at.session_state["sim_days"] = 1
    at.session_state["sim_per_hour"] = 200
    at.session_state["sim_algorithms"] = ["static", "bts"]
    at.run()
    assert not at.exception
    summary = at.dataframe[0].value
    assert summary["algorithm"].tolist() == ["static", "bts 60m"]
    assert len(at.get("vega_lite_chart")) == 3


def test_simulator_page_without_algorithms_says_so() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth_user"] = {"name": "ana", "role": "analyst"}
    at.session_state["sim_algorithms"] = []
    at.run()
    assert not at.exception
    assert "Choose at least one algorithm" in at.info[0].value


def test_simulator_page_needs_a_signed_in_user() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert not at.get("vega_lite_chart")
    assert [t.value for t in at.title] != ["Simulator"]


def test_simulator_page_physics_inputs_and_decision_table() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth_user"] = {"name": "ana", "role": "analyst"}
    at.session_state["sim_seeds"] = 4
    at.session_state["sim_days"] = 1
    at.session_state["sim_per_hour"] = 300
    at.session_state["sim_algorithms"] = ["bts"]
    at.session_state["sim_cycle"] = 0.6
    at.session_state["sim_ttl"] = 300
    at.session_state["sim_latency"] = 10
    at.session_state["sim_window"] = "cumulative"
    at.session_state["sim_estimator"] = "stratified"
    at.run()
    assert not at.exception
    assert at.dataframe[0].value["algorithm"].tolist() == ["bts 60m cumulative stratified"]
    decisions = at.dataframe[1].value
    assert decisions["estimator"].tolist() == ["pooled", "stratified"]
    assert {"winner declared", "A-B bias (pp)", "median hours to decision"} <= set(decisions)


def test_simulate_prints_the_decision_table_with_physics(capsys: pytest.CaptureFixture) -> None:
    argv = [
        "simulate", "--days", "1", "--seeds", "4", "--algorithms", "bts",
        "--cycle-amplitude", "0.6,0.3", "--cache-ttl", "300", "--job-latency", "10",
        "--repeat-visits", "3", "--member-spread", "0.5", "--drift", "0.058,0.067@12",
        "--estimator", "stratified", "--rule-batches", "3",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Under the decision rule" in out and "3 consecutive" in out
    assert "bts 60m stratified" in out and "stratified" in out.splitlines()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["--cache-ttl", "30"],
        ["--cycle-amplitude", "1.5"],
        ["--rule-p-best", "2"],
    ],
)
def test_simulate_bad_physics_is_one_line(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main(["simulate", "--days", "1", "--seeds", "1", *argv]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("dynab simulate: error:")


def test_simulate_malformed_drift_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--drift", "0.1@x"])
    assert exit_.value.code == 2
    assert "expected CTRS@HOUR" in capsys.readouterr().err


def test_simulator_page_handles_up_to_ten_models() -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth_user"] = {"name": "ana", "role": "analyst"}
    at.session_state["sim_seeds"] = 2
    at.session_state["sim_days"] = 1
    at.session_state["sim_per_hour"] = 500
    at.session_state["sim_algorithms"] = ["bts"]
    at.session_state["sim_models"] = 10
    at.run()
    assert not at.exception
    labels = [n.label for n in at.number_input if n.label.startswith("CTR of model")]
    assert labels == [f"CTR of model {c}" for c in "ABCDEFGHIJ"]
    assert "Share of each hour's traffic to models B–J" in [h.value for h in at.subheader]
