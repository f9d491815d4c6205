"""The demo: areas and experiments that show both kinds of test (``dynab demo-data``).

The dynamic test pits the seed's two models against each other; their true click rates in the
demo traffic are 6.7% and 5.8%, as in the seed's worked example.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.exceptions import NotFoundError
from services.experiments import Area, Arm, Experiment, ExperimentType, Status
from services.store import Store

DEMO_USER = "demo"

AREAS = (
    Area("MAIN", "EXP-01-APS002-01", "Main page: recommended for you"),
    Area("DETAIL", "LF001-01", "Product detail: similar items"),
    Area("CART", "CART-POP-01", "Cart: frequently bought together"),
)

EXPERIMENTS = (
    Experiment(
        experiment_id="EXP-01",
        name="Main page: APS002 vs NCF (dynamic)",
        area_code="MAIN",
        type=ExperimentType.DYNAMIC,
        arms=(
            Arm("EXP-01-APS002-01", "Personalize APS002", 1.0, control=True),
            Arm("EXP-01-NCF-01", "Neural collaborative filtering", 1.0),
        ),
        warmup_hours=3,
        warmup_min_impressions=1000,
        exposure_floor=0.05,
    ),
    Experiment(
        experiment_id="EXP-02",
        name="Product detail: LF001 vs NCF-02 (static 5:5)",
        area_code="DETAIL",
        type=ExperimentType.STATIC,
        arms=(
            Arm("LF001-01", "Item-to-item LF001", 5, control=True),
            Arm("NCF-02", "NCF v2", 5),
        ),
    ),
)

#: True click and order rates of the demo models, used by the demo traffic.
TRUE_RATES: dict[str, tuple[float, float]] = {
    "EXP-01-APS002-01": (0.067, 0.004),
    "EXP-01-NCF-01": (0.058, 0.003),
    "LF001-01": (0.052, 0.003),
    "NCF-02": (0.049, 0.003),
    "CART-POP-01": (0.040, 0.002),
}


@dataclass(frozen=True)
class DemoResult:
    created: tuple[str, ...]
    started: tuple[str, ...]


def install_demo(store: Store, *, start: bool = True) -> DemoResult:
    """Create the demo areas and experiments that are missing, and start them (idempotent)."""
    created: list[str] = []
    started: list[str] = []
    for area in AREAS:
        try:
            store.get_area(area.area_code)
        except NotFoundError:
            store.save_area(area)
            created.append(area.area_code)
    for exp in EXPERIMENTS:
        try:
            current = store.get_experiment(exp.experiment_id)
        except NotFoundError:
            current = store.create_experiment(exp, by=DEMO_USER)
            created.append(exp.experiment_id)
        if start and current.status is Status.DRAFT:
            store.apply_action(
                exp.experiment_id, "start", expected_version=current.version, by=DEMO_USER
            )
            started.append(exp.experiment_id)
    return DemoResult(tuple(created), tuple(started))
