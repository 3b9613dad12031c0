"""Benchmark: decide N generated, varied requests under both payers, with full explanations.

    python bench/bench.py                 # N = 1,000 and 10,000, then the cold start
    python bench/bench.py --n 2000 --no-cold

Pinned to one core; requests are decided in the engine's batches (Decider.answer_many) with the kb out of
the collector's reach (gc.freeze), as `lumakras decide` does. Prints decisions/second, the mean time of an
explained decision (reading the request, the engine's Datalog query, the Kleene fold, and the answer with
its explanation tree), memory
(the RSS high-water mark before and after each run, and the Python heap still held after 1,000 and 5,000
more requests), the mix of decisions, and the cold start of the `lumakras` command on one request (a new
process: import, kb load, decide, print). Not a test: timing goals are met here, never in unit tests.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lumakras_logic.core.api import Decider  # noqa: E402

# One base request per pathway; the generator varies them.
BASES = {
    "nsclc": {"diagnosis": {"condition": "nsclc", "disease_state": ["metastatic"], "kras_g12c": "positive",
                            "kras_test": "fda_approved"},
              "medication": {"product": "lumakras", "dose_mg_per_day": 960, "with": []},
              "prior_therapies": ["carboplatin", "pemetrexed", "Keytruda"]},
    "crc": {"diagnosis": {"condition": "colorectal", "disease_state": ["metastatic"], "kras_g12c": "positive",
                          "kras_test": "fda_approved"},
            "medication": {"product": "lumakras", "dose_mg_per_day": 960, "with": ["Vectibix"]},
            "prior_therapies": ["FOLFOX", "FOLFIRI"]},
    "crc_mono": {"diagnosis": {"condition": "rectal", "disease_state": ["locally_advanced"], "kras_g12c": "positive"},
                 "medication": {"product": "sotorasib", "dose_mg_per_day": 960, "with": []},
                 "intolerant_to": ["cetuximab"], "unable_to_tolerate_combination": True,
                 "prior_therapies": ["CAPEOX"]},
    "ampullary": {"diagnosis": {"condition": "ampullary_adenocarcinoma", "disease_state": ["metastatic"],
                                "kras_g12c": "positive", "kras_test": "fda_approved"},
                  "medication": {"product": "lumakras", "dose_mg_per_day": 960, "with": []},
                  "prior_therapies": ["gemcitabine + cisplatin"]},
    "pancreatic": {"diagnosis": {"condition": "pancreatic_adenocarcinoma",
                                 "disease_state": ["recurrent_after_resection"],
                                 "kras_g12c": "positive", "kras_test": "fda_approved"},
                   "medication": {"product": "lumakras", "dose_mg_per_day": 960, "with": []},
                   "prior_therapies": ["FOLFIRINOX"]},
    "small_bowel": {"diagnosis": {"condition": "small_bowel_adenocarcinoma", "disease_state": ["advanced"],
                                  "kras_g12c": "positive", "kras_test": "other"},
                    "medication": {"product": "lumakras", "dose_mg_per_day": 960, "with": []},
                    "prior_therapies": ["CAPEOX", "bevacizumab"]},
    "other": {"diagnosis": {"condition": "gastric_adenocarcinoma", "disease_state": ["metastatic"],
                            "kras_g12c": "positive"},
              "medication": {"product": "lumakras", "dose_mg_per_day": 960, "with": []},
              "prior_therapies": ["FOLFOX"]},
}
DROPPABLE = [("member", "age"), ("diagnosis", "disease_state"), ("diagnosis", "kras_g12c"), ("diagnosis", "kras_test"),
             ("prescriber", "specialty"), ("medication", "with"), ("medication", "dose_mg_per_day"),
             (None, "prior_therapies")]


def generate(n: int, seed: int = 7) -> Iterator[dict]:
    """n varied requests, one at a time: every pathway, and approves, denies, pends and refers of both payers."""
    rng = random.Random(seed)
    names = list(BASES)
    for i in range(n):
        doc = copy.deepcopy(BASES[names[i % len(names)]])
        doc.update({"id": f"BENCH-{i:06d}", "date": "2026-03-01",
                    "line_of_business": rng.choice(["commercial", "medicaid", "marketplace"]),
                    "member": {"age": rng.choice([16, 45, 64, 77])},
                    "prescriber": {"specialty": rng.choice(["oncology", "medical oncology", "internal medicine"]),
                                   "oncologist_consulted": rng.random() < 0.5}})
        if rng.random() < 0.3:
            doc["requested_months"] = rng.choice([3, 6, 12])
        roll = rng.random()
        if roll < 0.15:  # documentation missing: pend
            section, key = rng.choice(DROPPABLE)
            (doc.get(section, {}) if section else doc).pop(key, None)
        elif roll < 0.25:
            doc["prior_therapies"] = rng.choice([["Krazati"], [], ["radiation"], ["xyz-unknown-123"]])
        elif roll < 0.35:
            doc["medication"]["dose_mg_per_day"] = 1200
            if rng.random() < 0.5:
                doc["medication"]["dose_evidence"] = rng.random() < 0.5
        elif roll < 0.45:
            doc["diagnosis"]["kras_g12c"] = "negative"
        elif roll < 0.55:
            doc["request_type"] = "continuation"
            doc["continuation"] = {"via_plan_benefit": rng.random() < 0.5, "days_on_therapy": rng.choice([10, 45, 200]),
                                   "responding": rng.random() < 0.8}
            if rng.random() < 0.4:
                doc["continuation"]["new_dose_mg_per_day"] = rng.choice([720, 960, 1200])
        yield doc


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(decider: Decider, n: int) -> dict:
    docs = generate(n)
    mix: Counter = Counter()
    rss_before = rss_mb()
    start = time.perf_counter()
    # read as they come and decided in the engine's batches, as `lumakras decide` reads and decides its files
    requests = (decider.parse(doc, f"bench:{doc['id']}") for doc in docs)
    for answers in decider.answer_many(requests, "all"):
        for answer in answers:
            mix[(answer.payer, answer.decision)] += 1
    elapsed = time.perf_counter() - start
    decisions = sum(mix.values())
    return {"n": n, "decisions": decisions, "seconds": elapsed, "per_s": decisions / elapsed,
            "ms": 1000 * elapsed / decisions, "rss_before": rss_before, "rss_mb": rss_mb(), "mix": mix}


def heap_growth(decider: Decider, n: int) -> float:
    """Python heap still held after answering n requests (answers dropped): a leak shows here."""
    requests = [decider.parse(d, f"bench:{d['id']}") for d in generate(n, seed=11)]  # parsed before measuring
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for _answers in decider.answer_many(requests, "all"):
        pass
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (held - base) / 2**20


def cold_start(runs: int = 7) -> list[float]:
    request = ROOT / "queries" / "centene-approve-nsclc-I.A.yaml"
    exe = Path(sys.executable).parent / "lumakras"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "lumakras_logic.cli"]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([*cmd, "decide", str(request), "--payer", "centene", "--json"], check=True,
                       capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, action="append", help="requests per run (repeatable)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start measurement")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    t = time.perf_counter()
    decider = Decider()
    print(f"kb loaded once in {1000 * (time.perf_counter() - t):.0f} ms ({len(decider.kb.statements)} statements)")
    gc.freeze()  # as the command does once its kb is loaded (cli/common.py)
    decider.answer(decider.parse(next(generate(1)), "warm-up"), "all")
    for n in args.n or [1000, 10000]:
        r = run(decider, n)
        mix = ", ".join(f"{p} {d} {c}" for (p, d), c in sorted(r["mix"].items()))
        print(f"N={r['n']:>6}: {r['decisions']} explained decisions in {r['seconds']:.2f} s = {r['per_s']:.0f}/s, "
              f"{r['ms']:.2f} ms each; RSS high-water {r['rss_before']:.0f} -> {r['rss_mb']:.0f} MB")
        print(f"          mix: {mix}")
    for n in (1000, 5000):
        print(f"heap held after {n} more requests: {heap_growth(decider, n):+.2f} MB")
    if not args.no_cold:
        times = cold_start()
        print("cold start, `lumakras decide <one request> --payer centene --json`: "
              f"median {statistics.median(times):.3f} s, "
              f"min {min(times):.3f} s, max {max(times):.3f} s over {len(times)} runs")


if __name__ == "__main__":
    main()
