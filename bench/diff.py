"""Benchmark: the whole `lumakras diff` (market as recorded and the shipped scenarios) on 2 and 1 processes.

    python bench/diff.py                  # --jobs 2, then --jobs 1
    python bench/diff.py --jobs 2 --no-scenarios
    python bench/diff.py --root /tmp/before --root .     # two checkouts side by side, run after run

Prints the wall time and the CPU time of the diff and its workers, the counts the diff reports (parts,
abstract profiles, field-class combinations enumerated, payer status vectors decided, combinations of the
blocks several payers read, regions and their alternatives) and the witnesses that did not replay (always 0).
With several --root, each setting runs in every checkout in turn (the same load for both), each with its own
code and kb. Not a test: timing goals are met here, never in unit tests.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(root: Path, jobs: int, scenarios: bool, timeout: float | None) -> None:
    command = [sys.executable, "-m", "lumakras_logic.cli", "diff", "--json", "--jobs", str(jobs),
               "--today", "2026-06-01"] + ([] if scenarios else ["--no-scenarios"])
    label = f"{root}: --jobs {jobs}{'' if scenarios else ' --no-scenarios'}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        out = subprocess.run(command, cwd=root, capture_output=True, text=True, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{label}: no answer within {timeout:.0f} s")
        return
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    data = json.loads(out.stdout)
    t = data["totals"]
    blocks = sum(p["block_profiles"] for p in data["parts"])
    print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU (diff's own clock {data['seconds']} s); "
          f"markets {', '.join(data['markets'])}")
    print(f"  {t['parts']} parts, {t['profiles']:,} abstract profiles, {blocks:,} field-class combinations "
          f"enumerated, {t['status_vectors_decided']:,} status vectors decided, {t['points']:,} points")
    print(f"  {t['regions']} regions, {t['alternatives']} alternatives, {t['not_replayed']} witnesses not replayed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, action="append")
    parser.add_argument("--no-scenarios", action="store_true")
    parser.add_argument("--root", type=Path, action="append", help="a checkout to run (default: this one)")
    parser.add_argument("--timeout", type=float, default=None, help="give up on a run after this many seconds")
    args = parser.parse_args()
    for jobs in args.jobs or [2, 1]:
        for root in args.root or [ROOT]:
            run(root.resolve(), jobs, not args.no_scenarios, args.timeout)


if __name__ == "__main__":
    main()
