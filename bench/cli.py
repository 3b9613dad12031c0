"""Benchmark: one `lumakras` command from two checkouts on the same generated request files, in turns.

    git worktree add /tmp/before <commit>
    python bench/cli.py /tmp/before . --n 1000 --rounds 3 -- decide --json --payer all
    python bench/cli.py /tmp/before . --after-args "--jobs 2" -- decide --json --payer all

Writes N varied requests (bench/bench.py's generator) as YAML files, then runs the command on all of them
from each checkout in turn (the order alternates every round), each checkout with its own code and kb, and
reports the median wall time, the median CPU time (user + system of the command and every process it
starts) and their ratios, after/before. The two outputs must be the same but for the kb digests (each
checkout has its own kb), the folder the kb files are named from and the answer's schema version in its
provenance (since issue 12): the run stops otherwise. Not a test: timing goals are met here.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench import generate  # noqa: E402

# The command line of a checkout: its own package first, an editable install's import hook dropped (it would
# answer this checkout's imports with the installed one's).
RUN = """
import sys
sys.path.insert(0, sys.argv.pop(1))
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, '__module__', '').startswith('__editable__')]
from lumakras_logic.cli import main
sys.argv[0] = 'lumakras'
main()
"""
DIGEST = re.compile(r'"(kb_)?digest": "[0-9a-f]{64}"')
SHORT = re.compile(r"\bkb [0-9a-f]{16} ")  # the text output's short digest
SCHEMA = re.compile(r'\n *"schema": "lumakras-answer/\d+",')  # in provenance since issue 12


def run(root: Path, args: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the command and its children, standard output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN, str(root.resolve()), *args], cwd=cwd, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        sys.exit(f"{root}: exit {done.returncode}: {done.stderr.strip()[:300]}")
    return wall, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--n", type=int, default=1000, help="requests")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before-args", default="", help="options for the before checkout only")
    parser.add_argument("--after-args", default="", help="options for the after checkout only (--jobs 1)")
    parser.add_argument("command", nargs="+", help="the command and its options, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = []
        for i, doc in enumerate(generate(args.n)):
            path = folder / f"{i:06d}.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
            files.append(path.name)
        sides = {"before": (args.before, [*args.command, *shlex.split(args.before_args), *files]),
                 "after": (args.after, [*args.command, *shlex.split(args.after_args), *files])}
        walls: dict[str, list[float]] = {"before": [], "after": []}
        cpus: dict[str, list[float]] = {"before": [], "after": []}
        outputs: dict[str, str] = {}
        for i in range(args.rounds):
            for name in (("before", "after") if i % 2 == 0 else ("after", "before")):
                root, argv = sides[name]
                wall, cpu, out = run(root, argv, folder)
                walls[name].append(wall)
                cpus[name].append(cpu)
                # the kb digests differ, and an older checkout names its kb files by their full path
                out = SHORT.sub("kb - ", SCHEMA.sub("", DIGEST.sub('"digest": "-"', out)))
                outputs[name] = out.replace(f"{root.resolve()}/", "")
                print(f"round {i + 1} {name}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
            if outputs["before"] != outputs["after"]:
                sys.exit("the two checkouts printed different answers")
    wb, wa = statistics.median(walls["before"]), statistics.median(walls["after"])
    cb, ca = statistics.median(cpus["before"]), statistics.median(cpus["after"])
    print(f"{' '.join(args.command)} on {args.n:,} requests, {os.cpu_count()} cores, medians of {args.rounds}:")
    print(f"  before: {wb:.2f} s wall, {cb:.2f} s CPU")
    print(f"  after:  {wa:.2f} s wall, {ca:.2f} s CPU ({args.after_args or 'default options'})")
    print(f"  after/before: wall {wa / wb:.3f}x, CPU {ca / cb:.3f}x (CPU {cb / ca:.2f} times less)")


if __name__ == "__main__":
    main()
