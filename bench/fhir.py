"""Benchmark: what a FHIR decision costs against the YAML one it stands for (docs/fhir.md).

    python bench/fhir.py                  # 9 rounds of 200 reads and 200 decisions of each form
    python bench/fhir.py --rounds 15 --n 500

Each round times, side by side in one process, the same work on the FHIR examples of queries/fhir/ and
on their request-document twins: reading (the file parsed, then the request built: for FHIR the structure
checked by fhirclient's models, references and codings checked, the adapter run), and reading plus
deciding under both payers with the explanation. Rounds alternate which form goes first. Prints the medians
and the median ratio FHIR/YAML, per request. Then the cold start: `lumakras decide` on one file of each
form in a new process (the FHIR one also imports fhirclient). Not a test: timing goals are met here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lumakras_logic.core.api import Decider  # noqa: E402
from lumakras_logic.core.request import load_request  # noqa: E402

PAIRS = [  # FHIR example, its request document
    ("both-approve-nsclc-uscore-mcode.json", "both-approve-nsclc.yaml"),
    ("both-approve-nsclc-pas.json", "both-approve-nsclc.yaml"),
    ("both-deny-nsclc-kras-absent.json", "both-deny-nsclc-kras-absent.yaml"),
    ("both-pend-nsclc-stage-undocumented.json", "both-pend-nsclc-stage-undocumented.yaml"),
]


def _time(work, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        work()
    return (time.process_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--n", type=int, default=200, help="requests per form and round")
    args = parser.parse_args()
    decider = Decider()
    kb, payers = decider.kb, decider.kb.payers()
    folder = ROOT / "queries" / "fhir"
    forms = {"fhir": [folder / f for f, _ in PAIRS], "yaml": [folder / y for _, y in PAIRS]}

    def reader(paths: list[Path]):
        def read() -> None:
            for p in paths:
                load_request(p, payers, None, kb)
        return read

    def decide(paths: list[Path]):
        def run() -> None:
            requests = [load_request(p, payers, None, kb) for p in paths]
            for answers in decider.answer_many(requests, "all"):
                assert answers
        return run

    reader(forms["fhir"])()  # fhirclient imported and the code tables built before timing
    results: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        order = ["fhir", "yaml"] if r % 2 == 0 else ["yaml", "fhir"]
        for what, make in (("read", reader), ("read + decide", decide)):
            for form in order:
                per = _time(make(forms[form]), max(1, args.n // len(PAIRS))) / len(PAIRS)
                results.setdefault((what, form), []).append(per)
    print(f"{args.rounds} rounds, {args.n} requests per form and round, CPU time per request (median):")
    for what in ("read", "read + decide"):
        f, y = (statistics.median(results[(what, k)]) for k in ("fhir", "yaml"))
        ratios = [a / b for a, b in zip(results[(what, "fhir")], results[(what, "yaml")], strict=True)]
        print(f"  {what:14s} FHIR {f * 1000:7.2f} ms   YAML {y * 1000:7.2f} ms   "
              f"FHIR/YAML {statistics.median(ratios):5.2f}x (difference {(f - y) * 1000:.2f} ms)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    colds: dict[str, list[float]] = {"fhir": [], "yaml": []}
    for r in range(5):
        for form in (["fhir", "yaml"] if r % 2 == 0 else ["yaml", "fhir"]):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "lumakras_logic.cli", "decide", str(forms[form][0]),
                            "--payer", "all"], cwd=ROOT, env=env, check=True, capture_output=True)
            colds[form].append(time.perf_counter() - start)
    f, y = (statistics.median(colds[k]) for k in ("fhir", "yaml"))
    print(f"  cold start     FHIR {f:7.3f} s    YAML {y:7.3f} s    FHIR/YAML {f / y:5.2f}x "
          "(a new process deciding one file, kb cache warm)")


if __name__ == "__main__":
    main()
