"""The kb cache (core/kbcache.py): a kb read from the cache is the kb read from its text, a changed file is
never answered from a stale entry, and a cache that is damaged, unwritable or turned off is skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT, shared_decider

from lumakras_logic.core import kbcache
from lumakras_logic.core.api import Decider
from lumakras_logic.core.kb import KnowledgeBase


@pytest.fixture(autouse=True)
def _restore_kb():
    yield
    shared_decider().kb.activate()


def _load(kb_dir: Path) -> KnowledgeBase:
    return KnowledgeBase([kb_dir])


def _rows(kb: KnowledgeBase) -> dict[str, set]:
    """The materialized rows, as sets: pyDatalog gives them in an order of its own."""
    return {name: set(rows) for name, rows in (kb._twins or {}).items()}  # noqa: SLF001


def test_a_kb_from_the_cache_is_the_kb_from_its_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMAKRAS_CACHE", str(tmp_path / "cache"))
    first = _load(ROOT / "kb")
    assert len(list((tmp_path / "cache").glob("*.cache"))) == 1
    again = _load(ROOT / "kb")  # read from the cache
    assert again.statements == first.statements
    assert _rows(again) == _rows(first) and _rows(first)
    monkeypatch.setenv("LUMAKRAS_CACHE", "off")
    text = _load(ROOT / "kb")
    assert text.statements == first.statements and _rows(text) == _rows(first)
    # the same answers, every example, from a kb read from the cache
    monkeypatch.setenv("LUMAKRAS_CACHE", str(tmp_path / "cache"))
    cached, plain = Decider([ROOT / "kb"]), shared_decider()
    for path in sorted((ROOT / "queries").glob("*.yaml"))[:12]:
        got = [o.answers for o in cached.answer_files([path], "all")]
        want = [o.answers for o in plain.answer_files([path], "all")]
        assert got == want, path.name


def test_a_changed_file_is_never_read_from_a_stale_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMAKRAS_CACHE", str(tmp_path / "cache"))
    kb_dir = tmp_path / "kb"
    shutil.copytree(ROOT / "kb", kb_dir)
    _load(kb_dir)
    policy = kb_dir / "payers" / "centene" / "initial.dl"
    assert policy.exists()
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text.replace("'at_least', 'member.age', 18)", "'at_least', 'member.age', 21)"),
                      encoding="utf-8")
    changed = _load(kb_dir)
    assert any(s.args[-1:] == (21,) and s.head == "test" and "member.age" in s.args for s in changed.statements)
    assert len(list((tmp_path / "cache").glob("*.cache"))) == 2


def test_a_damaged_or_unwritable_cache_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("LUMAKRAS_CACHE", str(cache))
    first = _load(ROOT / "kb")
    for entry in cache.glob("*.cache"):
        entry.write_bytes(b"\x00not marshal")
    assert _load(ROOT / "kb").statements == first.statements
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder would be")
    monkeypatch.setenv("LUMAKRAS_CACHE", str(blocked))
    assert _load(ROOT / "kb").statements == first.statements
    monkeypatch.setenv("LUMAKRAS_CACHE", "off")
    assert kbcache.cache_dir() is None
