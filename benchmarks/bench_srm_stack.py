"""SRM of the embedded stack's own demo traffic, on the assignment unit and on the other unit.

Run: .venv/bin/python benchmarks/bench_srm_stack.py [--hours 24] [--seed 0]

Starts the embedded stack (MongoDB, the local gateway with its 300 s answer cache, the demo
traffic; no parameter job and no console) in a temporary folder on a clock of one simulated hour
per real second, lets it serve ``--hours`` hours, then counts the impressions in the lake per
hour, model and batch the way the parameter job does (impressions per batch, each member's first
impression) and runs ``experiment_srm`` on both demo experiments, beside the same test on the
other unit for contrast. It reports figures; it asserts nothing. Takes a few real minutes for
24 hours on two shared cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from dynab.stack import Stack, StackFailed, StackOptions
    from services.ops.split_check import experiment_srm
    from services.statistics.srm import srm_by_batch
    from tests.lake import hourly_rows

    print(
        f"rerun: .venv/bin/python benchmarks/bench_srm_stack.py --hours {args.hours} "
        f"--seed {args.seed}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        options = StackOptions(
            data_dir=Path(tmp),
            speed=3600,
            requests_per_hour=3000,
            console=False,
            job=False,
            seed=args.seed,
        )
        stack = Stack(options, say=lambda message: None).start()
        assert stack.store is not None
        experiments = {e: stack.store.get_experiment(e) for e in ("EXP-01", "EXP-02")}
        started = time.monotonic()
        try:
            stack.wait_for(hours=args.hours)
        except StackFailed as exc:
            print(f"the stack failed: {exc}")
            return 1
        finally:
            stack.stop()
        print(
            f"{stack.hours_done} simulated hours, {stack.requests_sent:,} requests through the "
            f"gateway, {time.monotonic() - started:.0f} s (2 shared cores; noisy)"
        )
        for experiment_id, experiment in experiments.items():
            rows = hourly_rows(Path(tmp) / "lake", experiment_id)
            check = experiment_srm(experiment, rows)
            other = "impressions"  # the clustered unit, for contrast
            split = dict(zip(experiment.model_codes, experiment.normalised_weights, strict=True))
            contrast = srm_by_batch(rows, experiment.model_codes, unit=other, split=split)
            print(
                f"  {experiment_id} ({experiment.type.value}, {experiment.serving_mode.value}): "
                f"{check.unit} {list(check.observed)} p = {check.p_value:.3g}"
                f"{' MISMATCH' if check.mismatch else ''} | {other} {list(contrast.observed)} "
                f"p = {contrast.p_value:.3g}{' MISMATCH' if contrast.mismatch else ''}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
