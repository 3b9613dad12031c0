"""Benchmark: two checkouts side by side, explained decisions per request, in paired runs.

    git worktree add /tmp/before <commit>
    python bench/paired.py /tmp/before .            # six pairs of 1,000 requests
    python bench/paired.py /tmp/before . --pairs 10 --n 500

Each pair runs both checkouts at once, each on its own core (the cores swap every pair), each with its own
code, kb and generator (its bench/bench.py), so that the noise of a shared machine falls on both alike. A
run reads the requests first, then decides each under both payers with its explanation (in the engine's
batches where the checkout has Decider.answer_many, one at a time otherwise), and reports CPU time per
decision. Prints each pair and the median ratio. Not a test: timing goals are met here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import os, sys, time
root = sys.argv[1]
sys.path[:0] = [root + '/bench', root]
# an editable install's import hook would give this checkout's imports to the installed one: drop it
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, '__module__', '').startswith('__editable__')]
os.sched_setaffinity(0, {int(sys.argv[2])})
from bench import generate
try:
    from lumakras_logic.core.api import Decider
except ImportError:  # a checkout from before the package had core/
    from lumakras_logic.api import Decider
decider = Decider()
if sys.argv[4] == "freeze":  # as the command does once the kb is loaded (cli/common.py): both sides alike
    import gc
    gc.freeze()
docs = list(generate(int(sys.argv[3])))
decider.answer(decider.parse(docs[0], 'warm-up'), 'all')
requests = [decider.parse(doc, 'bench') for doc in docs]
start = time.process_time()
if hasattr(decider, 'answer_many'):  # a checkout that decides in batches: its way to answer many requests
    decisions = sum(len(a) for a in decider.answer_many(requests, 'all'))
else:
    decisions = sum(len(decider.answer(r, 'all')) for r in requests)
print(1000 * (time.process_time() - start) / decisions)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--n", type=int, default=1000, help="requests per run")
    parser.add_argument("--freeze", action="store_true",
                        help="gc.freeze() once the kb is loaded, on both sides, as the command does")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        sys.exit("paired runs need two cores")
    ratios = []
    for i in range(args.pairs):
        a, b = (cores[0], cores[1]) if i % 2 == 0 else (cores[1], cores[0])
        runs = [subprocess.Popen([sys.executable, "-c", CHILD, str(root.resolve()), str(core), str(args.n),
                                  "freeze" if args.freeze else "-"],
                                 stdout=subprocess.PIPE, text=True)
                for root, core in ((args.before, a), (args.after, b))]
        before, after = (float(p.communicate()[0]) for p in runs)
        ratios.append(after / before)
        print(f"pair {i + 1}: before {before:.2f} ms, after {after:.2f} ms per decision: {after / before:.3f}x",
              flush=True)
        time.sleep(1)
    print(f"median ratio after/before: {statistics.median(ratios):.3f}x over {len(ratios)} pairs")


if __name__ == "__main__":
    main()
