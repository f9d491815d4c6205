"""The traffic generator: seeded, reproducible event logs for tests, benchmarks and the demo."""

from services.traffic.config import ArmSpec, TrafficConfig
from services.traffic.generator import (
    ChooseModel,
    HourTraffic,
    TrafficSummary,
    generate,
    generate_hour,
    to_lines,
    write_hour,
)

__all__ = [
    "ArmSpec",
    "ChooseModel",
    "HourTraffic",
    "TrafficConfig",
    "TrafficSummary",
    "generate",
    "generate_hour",
    "to_lines",
    "write_hour",
]
