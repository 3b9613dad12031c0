"""libyaml reads requests as the pure-Python loader does: the same document, or the same refusal.

The loader reads with libyaml when PyYAML has it and falls back to the pure-Python loader for every
refusal; these tests hold libyaml's successes to the pure-Python loader's reading, on the examples, the
cases and seeded mutants of them (bench/fuzz.py's), and on YAML's corners.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from lumakras_logic.core.inputs import InputError, load_yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from fuzz import _bases, mutant  # noqa: E402

CORNERS = [
    "a: 2026-01-01\nb: 2026-01-01T10:00:00Z\n",  # dates stay text
    "a: yes\nb: no\nc: on\nd: ~\ne: null\nf: .inf\ng: -.nan\nh: 0o17\ni: 0x1F\nj: 1_000\nk: 1e3\nl: 012\n",
    "a: &x {b: 1}\nc: *x\nd: [*x, *x]\n",
    "? [a, b]\n: 1\n",
    "a: |\n  two\n  lines\nb: >\n  folded\n  text\n",
    "a: 'it''s'\nb: \"tab\\tnew\\nline\"\nc: \"\\u00e9\\U0001F600\"\n",
    "<<: {a: 1}\nb: 2\n",
    "- - - x\n  - y\n- z\n",
    "a: 1\na: 2\n",
    "a: !!binary aGVsbG8=\nb: !!str 12\nc: !!int '7'\n",
    "a: !!python/object x\n",
    "\ufeffa: 1\n",
    "a:\n\tb: 1\n",
    "%YAML 1.1\n---\na: 1\n...\n",
    "--- 1\n--- 2\n",
    "",
    "# only a comment\n",
    "[" * 39 + "1" + "]" * 39,
    "[" * 40 + "1" + "]" * 40,
    "a: \x85b\n",
    "a: b\u2028c\n",
    "a: \"\\x07\"\n",
]


def read(text: str, libyaml: bool) -> object:
    try:
        return ("ok", load_yaml(text, "t.yaml", libyaml=libyaml))
    except InputError as exc:
        return ("refused", exc.message)


def texts() -> list[str]:
    out = list(CORNERS)
    for path in sorted((ROOT / "queries").glob("*.yaml")) + sorted((ROOT / "tests" / "cases").glob("*.yaml")):
        out.append(path.read_text(encoding="utf-8"))
    return out


@pytest.mark.parametrize("text", texts())
def test_libyaml_reads_as_the_pure_loader(text: str) -> None:
    assert read(text, True) == read(text, False)


def test_libyaml_reads_mutants_as_the_pure_loader(tmp_path: Path) -> None:
    rng, bases = random.Random(41), _bases()
    checked = 0
    for i in range(400):
        path = mutant(rng, bases, tmp_path, i)
        if path.is_symlink() or not path.is_file():  # a FIFO, a link to /dev/zero: the boundary's tests
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix not in (".yaml", ".yml"):
            continue
        assert read(text, True) == read(text, False), path.name
        checked += 1
    assert checked > 100
