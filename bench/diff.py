"""Benchmark: the whole `lumakras diff` (market as recorded and the shipped scenarios) on 1 and 2 processes.

    python bench/diff.py                  # --jobs 2, then --jobs 1
    python bench/diff.py --jobs 2 --no-scenarios

Prints the wall time, the counts the diff reports (parts, abstract profiles, field-class combinations
enumerated, status vectors folded to a decision, joint points, regions and their alternatives) and the
witnesses that did not replay (always 0). Not a test: timing goals are met here, never in unit tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(jobs: int, scenarios: bool) -> None:
    command = [sys.executable, "-m", "lumakras_logic.cli", "diff", "--json", "--jobs", str(jobs),
               "--today", "2026-06-01"] + ([] if scenarios else ["--no-scenarios"])
    start = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    data = json.loads(out.stdout)
    t = data["totals"]
    blocks = sum(p["block_profiles"] for p in data["parts"])
    print(f"--jobs {jobs}{'' if scenarios else ' --no-scenarios'}: {wall:.1f} s wall "
          f"(diff's own clock {data['seconds']} s); markets {', '.join(data['markets'])}")
    print(f"  {t['parts']} parts, {t['profiles']:,} abstract profiles, {blocks:,} field-class combinations "
          f"enumerated, {t['status_vectors_decided']:,} status vectors decided, {t['points']:,} joint points")
    print(f"  {t['regions']} regions, {t['alternatives']} alternatives, {t['not_replayed']} witnesses not replayed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, action="append")
    parser.add_argument("--no-scenarios", action="store_true")
    args = parser.parse_args()
    for jobs in args.jobs or [2, 1]:
        run(jobs, not args.no_scenarios)


if __name__ == "__main__":
    main()
