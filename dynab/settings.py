"""Configuration by environment, read once at the edge (commands, the console's entry point).

| variable | default | meaning |
| --- | --- | --- |
| ``MONGODB_URI`` | unset -> embedded server | MongoDB to use |
| ``MONGODB_DB`` | ``dynab`` (or the URI's database) | database name |
| ``DYNAB_DATA_DIR`` | ``./.dynab`` | embedded data: MongoDB files, the local event lake, logs |
| ``DYNAB_MONGO_PORT`` | ``27017`` | port of the embedded MongoDB server |
| ``DYNAB_CONSOLE_PORT`` | ``8501`` | port of the Streamlit console |
| ``DYNAB_GATEWAY_PORT`` | ``8080`` | port of the local API gateway |
| ``DYNAB_CLOCK_SPEED`` | ``60`` | simulated seconds per real second in the embedded demo |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.exceptions import ValidationError


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(name, f"must be a whole number, got {raw!r}") from None
    if not 0 < value < 65536:
        raise ValidationError(name, f"must be a port between 1 and 65535, got {value}")
    return value


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(name, f"must be a number, got {raw!r}") from None
    if not value > 0:
        raise ValidationError(name, f"must be positive, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    mongodb_uri: str | None
    mongodb_db: str | None
    data_dir: Path
    mongo_port: int
    console_port: int
    gateway_port: int
    clock_speed: float

    @property
    def embedded(self) -> bool:
        """True when dynab starts its own MongoDB server (no MONGODB_URI given)."""
        return not self.mongodb_uri

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            mongodb_uri=os.environ.get("MONGODB_URI") or None,
            mongodb_db=os.environ.get("MONGODB_DB") or None,
            data_dir=Path(os.environ.get("DYNAB_DATA_DIR") or ".dynab").resolve(),
            mongo_port=_int_env("DYNAB_MONGO_PORT", 27017),
            console_port=_int_env("DYNAB_CONSOLE_PORT", 8501),
            gateway_port=_int_env("DYNAB_GATEWAY_PORT", 8080),
            clock_speed=_float_env("DYNAB_CLOCK_SPEED", 60.0),
        )
