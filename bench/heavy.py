"""Heavy and hostile input: peak memory and time of the CLI on the cases issue 11 names.

    python bench/heavy.py                     # every case, 20,000 requests
    python bench/heavy.py --requests 2000 --only decide impact

Each case runs `lumakras` as a child process; its memory is the peak of the summed proportional set size
(Pss) of the process and all its descendants (decide's workers, impact's old-kb process), sampled every
50 ms from /proc (Linux): pages forked workers share with their parent count once. Prints one line per
case: the command, exit status, seconds, peak MB and what was checked (the answers counted, or the one-line
refusal), and exits 1 if a case broke the contract (a traceback, an
exit status other than 0 or 2, a refusal that blocked, an answer lost) or went over --limit MB.

Cases: a 452-byte YAML alias bomb; a request with a 100,000-entry list (refused at the default limits);
one with 10,000 unknown names (the longest list the defaults accept; answered); a FIFO and a link to
/dev/zero among requests (refused without blocking); a batch of --requests requests (copies of
queries/*.yaml) under decide --json and text, compare --json, impact --json (against a kb with one fact
changed) and test (--requests cases). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "queries" / "centene-approve-nsclc-I.A.yaml"
LUMAKRAS = [sys.executable, "-c", "from lumakras_logic.cli import main; main()"]


def tree_rss_kb(pid: int) -> int:
    """The memory of a process and its descendants, in KB (0 once it is gone): the sum of their proportional
    set sizes (Pss: a page that forked workers share with their parent counts once in all), or of their
    resident sets where the kernel gives no Pss."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            try:
                status = Path(f"/proc/{p}/smaps_rollup").read_text()
                key = "Pss:"
            except OSError:
                status, key = Path(f"/proc/{p}/status").read_text(), "VmRSS:"
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith(key))
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


@dataclass
class Run:
    code: int
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str


def run(args: list[str], cwd: Path, timeout: float) -> Run:
    """Run the CLI with output to files (a pipe left unread would block it), sampling its memory."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen([*LUMAKRAS, *args], cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss_kb(proc.pid))
            if time.monotonic() - start > timeout:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, seconds, peak / 1024, out.read(), err.read())


def good_doc() -> dict:
    return json.loads(json.dumps(yaml.safe_load(GOOD.read_text()), default=str))


def write_batch(folder: Path, n: int) -> list[Path]:
    """n requests: the YAML examples of queries/ in turn, each with an id of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "queries").glob("*.yaml"))]
    paths = []
    for i in range(n):
        doc = dict(docs[i % len(docs)])
        doc["id"] = f"HEAVY-{i:05d}"
        path = folder / f"r{i:05d}.yaml"
        path.write_text(yaml.safe_dump(doc))
        paths.append(path)
    return paths


def write_cases(folder: Path, n: int) -> None:
    """At least n cases: the files of tests/cases in turn, request files named by absolute path."""
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted((ROOT / "tests" / "cases").glob("*.yaml"))
    count = i = 0
    while count < n:
        source = files[i % len(files)]
        doc = yaml.safe_load(source.read_text())
        cases = doc.get("cases", [doc])
        for case in cases:
            if "request_file" in case:
                case["request_file"] = str((ROOT / case["request_file"]).resolve())
        (folder / f"c{i:05d}-{source.name}").write_text(yaml.safe_dump(doc))
        count += len(cases)
        i += 1


def answered(stdout: str) -> int:
    data = json.loads(stdout) if stdout.strip() else []
    return len(data) if isinstance(data, list) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests in the batch cases")
    parser.add_argument("--limit", type=float, default=300.0, help="peak MB a case must stay under")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before a case is stopped")
    parser.add_argument("--only", nargs="*", default=None, help="run only the cases whose name starts so")
    args = parser.parse_args()
    n = args.requests
    work = Path(tempfile.mkdtemp(prefix="lumakras-heavy-"))
    checks: list[tuple[str, list[str], Callable[[Run], str | None]]] = []

    # An alias bomb: 9 levels of 9 aliases, 452 bytes that expand to 387 million values.
    bomb = work / "bomb.yaml"
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb.write_text("\n".join(lines) + "\n")
    checks.append(("bomb", ["decide", str(bomb), str(GOOD), "--payer", "all", "--json"],
                   lambda r: refused(r, "bomb.yaml", answers=2)))

    doc = good_doc()
    doc["prior_therapies"] = [f"Zorbamab-{i}" for i in range(100_000)]
    wide = work / "wide.yaml"
    wide.write_text(yaml.safe_dump(doc))
    checks.append(("list-100k", ["decide", str(wide), str(GOOD), "--payer", "all", "--json"],
                   lambda r: refused(r, "wide.yaml", answers=2)))
    doc["prior_therapies"] = doc["prior_therapies"][:10_000]
    widest = work / "widest.yaml"
    widest.write_text(yaml.safe_dump(doc))
    checks.append(("list-10k", ["decide", str(widest), "--payer", "all", "--json"],
                   lambda r: None if r.code == 0 and answered(r.stdout) == 2 else "not answered"))

    fifo, zero = work / "fifo.yaml", work / "zero.yaml"
    os.mkfifo(fifo)
    zero.symlink_to("/dev/zero")
    checks.append(("special", ["decide", str(fifo), str(zero), str(GOOD), "--json"],
                   lambda r: refused(r, "fifo.yaml", answers=1) or refused(r, "zero.yaml", answers=1)))

    batch = write_batch(work / "batch", n)
    folder = str(work / "batch")
    checks.append(("decide-json", ["decide", *map(str, batch), "--payer", "all", "--json"],
                   lambda r: None if r.code == 0 and answered(r.stdout) == 2 * n else "answers lost"))
    checks.append(("decide-text", ["decide", *map(str, batch), "--payer", "all"],
                   lambda r: None if r.code == 0 and r.stdout.count("\n") >= 2 * n else "answers lost"))
    checks.append(("compare-json", ["compare", folder, "--json"],
                   lambda r: None if r.code in (0, 2) and answered(r.stdout) == n else "comparisons lost"))
    changed = work / "kb"
    shutil.copytree(ROOT / "kb", changed)
    initial = changed / "payers" / "centene" / "initial.dl"
    initial.write_text(initial.read_text().replace("'member.age', 18)", "'member.age', 21)"))
    checks.append(("impact-json", ["impact", "--old", str(ROOT / "kb"), "--new", str(changed), folder,
                                   "--payer", "all", "--json"],
                   lambda r: None if r.code == 0 and json.loads(r.stdout)["summary"]["answers"] == 2 * n
                   else "answers lost"))
    write_cases(work / "cases", n)
    checks.append(("test", ["test", str(work / "cases")],
                   lambda r: None if r.code == 0 and " failed" in r.stdout else "cases lost"))

    failures = 0
    try:
        for name, argv, check in checks:
            if args.only and not any(name.startswith(o) for o in args.only):
                continue
            r = run(argv, ROOT, args.timeout)
            problem = check(r) if "Traceback" not in r.stderr else "traceback"
            if problem is None and r.peak_mb > args.limit:
                problem = f"over {args.limit:.0f} MB"
            failures += problem is not None
            tail = (r.stdout.strip().splitlines() or [""])[-1][:100] if name in ("test",) else ""
            first_error = (r.stderr.strip().splitlines() or [""])[0][:110]
            print(f"{name:<17} exit {r.code}  {r.seconds:7.1f} s  peak {r.peak_mb:7.1f} MB  "
                  f"{'ok' if problem is None else 'FAIL: ' + problem}  {tail or first_error}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def refused(r: Run, name: str, answers: int) -> str | None:
    """The file named is refused in one line (exit 2) and the other requests are answered."""
    lines = [line for line in r.stderr.splitlines() if name in line]
    if r.code != 2 or len(lines) != 1 or len(lines[0]) > 400:
        return f"{name} not refused in one line (exit {r.code})"
    return None if answered(r.stdout) == answers else "answers lost"


if __name__ == "__main__":
    sys.exit(main())
