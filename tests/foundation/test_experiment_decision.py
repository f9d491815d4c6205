"""The experiment's decision rule and evaluation window: validation and storage."""

from __future__ import annotations

import pytest
from pymongo.database import Database

from services.exceptions import ValidationError
from services.experiments import EvaluationWindow, Experiment
from services.mongo import schema
from services.mongo.repository import MongoStore
from services.statistics.decision import DecisionRule
from tests.foundation.factories import area, experiment


def test_defaults() -> None:
    exp = experiment()
    assert exp.decision_rule == DecisionRule()
    assert exp.evaluation_window is EvaluationWindow.CUMULATIVE
    assert exp.window_hours is None
    sliding = experiment(evaluation_window="sliding", evaluation_window_hours=48)
    assert sliding.window_hours == 48


def test_cumulative_shorthand_in_the_hours_field() -> None:
    exp = Experiment.from_dict(
        {
            **experiment(evaluation_window="sliding").to_dict(),
            "evaluation_window_hours": "cumulative",
        }
    )
    assert exp.evaluation_window is EvaluationWindow.CUMULATIVE and exp.window_hours is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"evaluation_window": "weekly"}, "evaluation_window"),
        ({"evaluation_window_hours": "forever"}, "evaluation_window_hours"),
        ({"decision_rule": {"min_p_best": 0.3}}, "decision_rule.min_p_best"),
        ({"decision_rule": {"consecutive_batches": 0}}, "decision_rule.consecutive_batches"),
        ({"decision_rule": {"bogus": 1}}, "decision_rule"),
        ({"decision_rule": "strict"}, "decision_rule"),
    ],
)
def test_invalid_settings_are_named(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Experiment.from_dict({**experiment().to_dict(), **changes})
    assert err.value.field == field


def test_store_round_trip_and_old_documents_load_with_defaults(
    store: MongoStore, mongo_db: Database
) -> None:
    store.save_area(area())
    rule = DecisionRule(0.99, 0.005, 6)
    store.create_experiment(experiment(decision_rule=rule, evaluation_window="sliding"), by="test")
    loaded = store.get_experiment("EXP-01")
    assert loaded.decision_rule == rule and loaded.evaluation_window is EvaluationWindow.SLIDING
    # a document written before these settings existed
    mongo_db[schema.EXPERIMENTS].update_one(
        {"_id": "EXP-01"}, {"$unset": {"decision_rule": "", "evaluation_window": ""}}
    )
    old = store.get_experiment("EXP-01")
    assert old.decision_rule == DecisionRule()
    assert old.evaluation_window is EvaluationWindow.CUMULATIVE
