"""Start-up cost: wall time of ``trunkline --help`` and of ``import trunkline``.

Run with ``uv run python benchmarks/bench_startup.py``. Each figure is measured in fresh
processes (the cost a user pays), repeated, and reported as median and best. The baseline
in the same run is a bare ``python -c pass``, so interpreter start-up is visible separately.
Target (issue 2): ``trunkline --help`` under 0.5 s on the project's 2-core machine.

``--against DIR`` also measures another checkout of the workspace, synced with ``uv sync``
(its ``.venv``), in the same run: the runs of the two alternate, so a machine that slows down
slows both. Issue 13 compares core before and after the layering this way::

    git worktree add /tmp/before <commit> && (cd /tmp/before && uv sync --locked)
    uv run python benchmarks/bench_startup.py --against /tmp/before
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

RUNS = 15


def run(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def cases(python: Path, script: Path) -> dict[str, list[str]]:
    return {
        "python -c pass (baseline)": [str(python), "-c", "pass"],
        "python -c 'import trunkline'": [str(python), "-c", "import trunkline"],
        "trunkline --help": [str(script), "--help"],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout, measured in the same run")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    here = Path(sys.executable)
    sides = {"this checkout": cases(here, here.parent / "trunkline")}
    if args.against is not None:
        venv = args.against.resolve() / ".venv" / "bin"
        sides[f"{args.against}"] = cases(venv / "python", venv / "trunkline")
    samples: dict[tuple[str, str], list[float]] = {}
    for side in sides.values():  # warm the file cache once
        for command in side.values():
            run(command)
    for _ in range(args.runs):  # alternate: each round runs every case of every side once
        for name, side in sides.items():
            for label, command in side.items():
                samples.setdefault((name, label), []).append(run(command))
    print(f"start-up, {args.runs} fresh processes each, alternating (median / best):")
    medians: dict[tuple[str, str], float] = {}
    for name, side in sides.items():
        print(f" {name}:")
        for label in side:
            got = samples[(name, label)]
            medians[(name, label)] = median = statistics.median(got)
            print(f"  {label:<32} {median * 1000:7.1f} ms / {min(got) * 1000:7.1f} ms")
        over = medians[(name, "python -c 'import trunkline'")]
        over -= medians[(name, "python -c pass (baseline)")]
        print(f"  import trunkline over baseline   {over * 1000:7.1f} ms")
        verdict = "meets" if medians[(name, "trunkline --help")] < 0.5 else "MISSES"
        print(f"  trunkline --help {verdict} the 0.5 s target")


if __name__ == "__main__":
    main()
