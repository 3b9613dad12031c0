"""A policy author's structural mistakes are reported with file:line when the kb loads, never mid-request."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT, shared_decider

from lumakras_logic.core.kb import KbError, load_kb

INITIAL = Path("payers/centene/initial.dl")


def _broken_kb(tmp_path: Path, old: str, new: str) -> Path:
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "kb", kb)
    text = (kb / INITIAL).read_text(encoding="utf-8")
    assert old in text
    (kb / INITIAL).write_text(text.replace(old, new, 1), encoding="utf-8")
    return kb


@pytest.mark.parametrize("old,new,message", [
    ("test('centene', 'I.A.3', 'at_least'", "test('centene', 'I.A.3', 'at_leest'", "kind 'at_leest'"),
    ("combines('centene', 'I.A.2', 'any')", "combines('centene', 'I.A.2', 'anyy')", "by 'anyy'"),
    ("+ test('centene', 'I.A.4', 'equals', 'diagnosis.kras_g12c', 'positive')", "", "neither a test nor parts"),
    ("+ part_of('centene', 'I.A.3', 'I.A')",
     "+ part_of('centene', 'I.A.3', 'I.A')\n+ part_of('centene', 'I.A.4', 'I.A.3')", "both a test and parts"),
    ("+ part_of('centene', 'I.A.3', 'I.A')", "+ part_of('centene', 'I.A.33', 'I.A')", "no node('centene', 'I.A.33'"),
])
def test_structural_mistake_names_file_and_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    kb = _broken_kb(tmp_path, old, new)
    try:
        with pytest.raises(KbError) as caught:
            load_kb([kb])
        assert message in str(caught.value)
        if "no node(" not in message:
            assert "initial.dl:" in str(caught.value)
    finally:
        shared_decider()  # the project's kb back in pyDatalog


def test_the_shipped_kb_loads_clean() -> None:
    kb = shared_decider().kb
    assert {"centene", "cigna"} <= set(kb.payers())
