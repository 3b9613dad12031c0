"""Fuzz the input boundary: mutate the example requests and hold every output to the CLI's contract.

    python bench/fuzz.py                      # 5,000 mutants, seed 1
    python bench/fuzz.py --n 20000 --seed 7 --keep crashes/
    python bench/fuzz.py --command impact     # the same mutants through impact (or compare)

Each mutant is a request file made from one of queries/*.yaml by a seeded mutation: a field's value of
another type, a YAML tag its type refuses, huge numbers, deep nesting, long texts and lists, control and
bidi characters, duplicate keys, an alias bomb, bytes that are not UTF-8, a truncated or flipped file, a
FIFO, a link to /dev/zero, a folder. Mutants are decided in batches (`lumakras decide ... --payer all
--json`, or `compare --json`, or `impact --json -v` between the kb and itself), each batch opened and
closed by a good request, and every batch must keep the contract:

- exit status 0 or 2, never a traceback;
- every error line starts with 'lumakras: ', names its file and is at most 400 characters;
- standard output is one JSON array, and every file of the batch is either answered or named by an error
  (nothing lost; the good requests around the mutants always answered).

Prints the mutants tried and the failures; with --keep, each failing mutant is copied there. Not a test;
tests/test_fuzz.py runs a small seeded batch of it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "queries" / "centene-approve-nsclc-I.A.yaml"


@dataclass
class Failure:
    batch: list[Path]
    why: str


def _bases() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((ROOT / "queries").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict):
            out.append((path.stem, json.loads(json.dumps(doc, default=str))))  # dates as the text they were
    return out


def _paths(doc: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in doc.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out += _paths(value, (*prefix, key))
    return out


def _set(doc: dict, path: tuple, value: object) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


ODD_VALUES: list[object] = [None, True, False, 0, -1, 10**40, 1.5, "", " ", "x" * 300, [], {}, [[]], {"a": 1},
                            ["Krazati"] * 50, "2026-02-30", "\n\x1b[2J", "\u202eevil", "\x00", "é" * 50,
                            "'; drop table", "{{x}}", "%s%s", "__import__('os')", ["\x7f", None, 3]]

TEXT_MUTANTS: list[str] = [
    "date: !!timestamp 2026-02-30\n", "member: {age: !!int abc}\n", "medication: {dose_evidence: !!bool maybe}\n",
    "member: {age: !!float nan}\n", "member: {age: .inf}\n", "member: {age: " + "9" * 5000 + "}\n",
    "x_deep: " + "[" * 700 + "]" * 700 + "\n", "x_tag: !!python/object:os.system ls\n", "x_set: !!set {a, b}\n",
    "x_binary: !!binary aGVsbG8=\n", "x_omap: !!omap [a: 1, b: 2]\n", "id: !!str\n", "? [a, b]\n: c\n",
    "diagnosis: {condition: nsclc}\ndiagnosis: {condition: gastric}\n", "x_anchor: *nowhere\n",
]


def _bomb() -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "id: BOMB\n" + "\n".join(lines) + "\n"


def mutant(rng: random.Random, bases: list[tuple[str, dict]], folder: Path, index: int) -> Path:
    """One mutant file in `folder`."""
    name, base = rng.choice(bases)
    doc = json.loads(json.dumps(base))
    kind = rng.randrange(10)
    suffix = ".json" if rng.random() < 0.2 else ".yaml"
    path = folder / f"m{index:06d}-{kind}{suffix}"
    if kind <= 3:  # a field's value of another type
        for _ in range(1 + rng.randrange(3)):
            _set(doc, rng.choice(_paths(doc)), copy.deepcopy(rng.choice(ODD_VALUES)))  # never shared: no cycle
        text = json.dumps(doc) if suffix == ".json" else yaml.safe_dump(doc, allow_unicode=rng.random() < 0.5)
        path.write_text(text, encoding="utf-8")
    elif kind == 4:  # a line YAML reads in its own way
        path = path.with_suffix(".yaml")
        path.write_text(yaml.safe_dump(doc) + rng.choice(TEXT_MUTANTS), encoding="utf-8")
    elif kind == 5:  # big: a long list, a long text, an alias bomb
        choice = rng.randrange(3)
        if choice == 0:
            doc["prior_therapies"] = [f"x-{i}" for i in range(rng.choice([50, 500, 20_000]))]
        elif choice == 1:
            doc["x_note"] = "y" * rng.choice([100, 20_000, 3_000_000])
        path = path.with_suffix(".yaml")
        path.write_text(_bomb() if choice == 2 else yaml.safe_dump(doc), encoding="utf-8")
    elif kind == 6:  # bytes: flipped, truncated, not UTF-8
        data = bytearray(yaml.safe_dump(doc).encode())
        for _ in range(1 + rng.randrange(8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.5:
            data = data[: rng.randrange(len(data))]
        path.write_bytes(bytes(data))
    elif kind == 7:  # JSON's own traps
        path = path.with_suffix(".json")
        text = json.dumps(doc)
        path.write_text(rng.choice([text.replace("{", '{"id": "D", "id": "E", ', 1), text[:-1] + ', "x": NaN}',
                                    text[:-1] + ', "x": ' + "[" * 3000 + "]" * 3000 + "}", text[: len(text) // 2],
                                    text[:-1] + ', "x": 1' + "0" * 5000 + "}", "\ufeff" + text]),
                        encoding="utf-8")
    elif kind == 8:  # strings that would drive a terminal
        doc["id"] = rng.choice(["X\nAPPROVE", "\x1b]0;title\x07", "\u202eDENY", "a\rb", "\x9b31m"])
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    else:  # what is not a regular file
        choice = rng.randrange(4)
        path = path.with_suffix(".yaml")
        if choice == 0:
            os.mkfifo(path)
        elif choice == 1:
            path.symlink_to("/dev/zero")
        elif choice == 2:
            path.mkdir()
        else:
            path.write_text("", encoding="utf-8")
    del name
    return path


def _decided(out: object) -> set[str]:
    return {a.get("provenance", {}).get("request_source") for a in out or []}  # type: ignore[union-attr]


def _compared(out: object) -> set[str]:
    return {c.get("source") for c in out or []}  # type: ignore[union-attr]


def _impacted(out: object) -> set[str]:
    body = out if isinstance(out, dict) else {}
    return {c.get("source") for c in [*body.get("changes", []), *body.get("unchanged", [])]}


# Each command fuzzed: its arguments around the files, the files its JSON output answers, and whether it
# reads a folder as the requests in it (an empty folder is then nothing to answer, not a file lost).
COMMANDS: dict[str, tuple[Callable[[list[str]], list[str]], Callable[[object], set[str]], bool]] = {
    "decide": (lambda files: ["decide", *files, "--payer", "all", "--json"], _decided, False),
    "compare": (lambda files: ["compare", *files, "--json"], _compared, True),
    "impact": (lambda files: ["impact", "--old", "kb", "--new", "kb", "--payer", "all", "--json", "-v", *files],
               _impacted, True),
}


def check_batch(paths: list[Path], run: Callable[[list[str]], subprocess.CompletedProcess],
                answered_by: Callable[[object], set[str]] = _decided, folders: bool = False) -> str | None:
    """The contract on one batch; None if it holds, else why not."""
    files = [str(GOOD), *map(str, paths), str(GOOD)]
    proc = run(files)
    if proc.returncode not in (0, 2):
        return f"exit {proc.returncode}"
    if "Traceback" in proc.stderr:
        return "traceback: " + proc.stderr[-300:]
    named: set[str] = set()
    for line in proc.stderr.splitlines():
        if not line.startswith("lumakras: ") or len(line) > 400:
            return f"error line: {line[:200]!r} ({len(line)} characters)"
        named |= {f for f in files if line.startswith(f"lumakras: {f}:")}
    try:
        answered = answered_by(json.loads(proc.stdout) if proc.stdout.strip() else [])
    except json.JSONDecodeError as exc:
        return f"stdout is not JSON: {exc}"
    if str(GOOD) not in answered:
        return "the good requests around the mutants were not answered"
    lost = [f for f in files if f not in answered and f not in named
            and not (folders and Path(f).is_dir() and not Path(f).is_symlink() and not any(Path(f).iterdir()))]
    if lost:
        return f"{len(lost)} files neither answered nor named, e.g. {lost[0]}"
    return None


def fuzz(n: int, seed: int, batch: int = 100, keep: Path | None = None,
         timeout: float = 300, command: str = "decide") -> tuple[int, list[Failure]]:
    rng = random.Random(seed)
    bases = _bases()
    failures: list[Failure] = []
    argv, answered_by, folders = COMMANDS[command]

    def run(files: list[str]) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([sys.executable, "-m", "lumakras_logic.cli", *argv(files)], capture_output=True,
                                  text=True, cwd=ROOT, timeout=timeout, errors="replace")
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess([], -1, "", f"no answer within {timeout} s")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        done = 0
        while done < n:
            size = min(batch, n - done)
            paths = [mutant(rng, bases, folder, done + i) for i in range(size)]
            why = check_batch(paths, run, answered_by, folders)
            if why is not None:
                failures.append(Failure(paths, why))
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    for p in paths:
                        if p.is_file() and not p.is_symlink():
                            shutil.copy(p, keep / p.name)
            for p in paths:
                if p.is_dir() and not p.is_symlink():
                    p.rmdir()
                else:
                    p.unlink()
            done += size
            print(f"{done} mutants, {len(failures)} failing batches", file=sys.stderr, flush=True)
    return n, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--command", choices=sorted(COMMANDS), default="decide",
                        help="the command the batches are given to (JSON output)")
    args = parser.parse_args()
    n, failures = fuzz(args.n, args.seed, args.batch, args.keep, command=args.command)
    print(f"{n} mutants tried in batches of {args.batch} by {args.command}: {len(failures)} batches broke the "
          "contract")
    for f in failures:
        print(f"  - {f.why}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
