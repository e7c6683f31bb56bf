"""Benchmark of the main job: wall time and peak memory of `ccni` commands.

Runs `ccni fetch`, `ccni run --edition 2022` (twice: cold and warm lake),
`ccni backfill` and `ccni trace` in a fresh temporary lake and prints one row per
command with its wall time and the peak resident memory of the process.

    .venv/bin/python benchmarks/run_pipeline.py [--mirror DIR] [--keep]

Results and the machine they came from go in docs/benchmarks.md. Timings are not
asserted in tests: they depend on the machine and its load.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CCNI = str(Path(sys.executable).with_name("ccni"))

COMMANDS = [
    ("fetch", [CCNI, "fetch"]),
    ("run 2022 (cold)", [CCNI, "run", "--edition", "2022"]),
    ("run 2022 (warm)", [CCNI, "run", "--edition", "2022"]),
    ("backfill 2020-2024", [CCNI, "backfill"]),
    (
        "trace 440300 html",
        [CCNI, "trace", "--edition", "2022", "--city", "440300", "--format", "html"],
    ),
]


def measure(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Run one command; return (wall seconds, peak RSS in MiB of that child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(
        command,
        env=environment,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=3600,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the maximum over all waited-for children (KiB on
    # Linux), so a command that peaks lower than an earlier one reports the earlier
    return seconds, max(after, before) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mirror",
        default=os.environ.get(
            "CCNI_SOURCE_MIRROR", str(PROJECT_ROOT.parent / "shared" / "data" / "real")
        ),
        help="folder laid out like the shared real-data folder",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary lake")
    arguments = parser.parse_args(argv)

    lake = Path(tempfile.mkdtemp(prefix="ccni-bench-"))
    environment = {
        **os.environ,
        "CCNI_DATA_LAKE": str(lake),
        "CCNI_SOURCE_MIRROR": arguments.mirror,
    }
    environment.pop("DAGSTER_HOME", None)
    print(f"lake {lake}, {os.cpu_count()} cores")
    print(f"{'command':<22} {'wall s':>8} {'peak RSS MiB (so far)':>22}")
    try:
        for name, command in COMMANDS:
            seconds, peak_mib = measure(command, environment)
            print(f"{name:<22} {seconds:>8.1f} {peak_mib:>22.0f}")
    finally:
        if not arguments.keep:
            shutil.rmtree(lake, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
