"""Start-up cost: wall time of ``trunkline --help`` and of ``import trunkline``.

Run with ``uv run python benchmarks/bench_startup.py``. Each figure is measured in fresh
processes (the cost a user pays), repeated, and reported as median and best. The baseline
in the same run is a bare ``python -c pass``, so interpreter start-up is visible separately.
Target (issue 2): ``trunkline --help`` under 0.5 s on the project's 2-core machine.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

RUNS = 15


def timed(argv: list[str]) -> tuple[float, float]:
    """Median and best wall time of running ``argv`` to completion, in seconds."""
    subprocess.run(argv, check=True, capture_output=True)  # warm the file cache once
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def main() -> None:
    script = shutil.which("trunkline")
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "python -c 'import trunkline'": [sys.executable, "-c", "import trunkline"],
        "trunkline --help": [script] if script else [sys.executable, "-m", "trunkline"],
    }
    cases["trunkline --help"] = [*cases["trunkline --help"], "--help"]
    print(f"start-up, {RUNS} fresh processes each (median / best):")
    results = {}
    for label, argv in cases.items():
        median, best = timed(argv)
        results[label] = median
        print(f"  {label:<32} {median * 1000:7.1f} ms / {best * 1000:7.1f} ms")
    base = results["python -c pass (baseline)"]
    print(f"  import trunkline over baseline   {(results[list(results)[1]] - base) * 1000:7.1f} ms")
    verdict = "meets" if results["trunkline --help"] < 0.5 else "MISSES"
    print(f"  trunkline --help {verdict} the 0.5 s target")


if __name__ == "__main__":
    main()
