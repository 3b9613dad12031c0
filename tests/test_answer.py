"""The typed answer (lumakras_logic/core/answer.py): its to_json() is, byte for byte, the JSON the untyped
answer gave before issue 12 (the goldens of tests/golden_answers.py were written by that code), and
from_json() reads it back whole."""

from __future__ import annotations

import difflib
import json
import pickle
from pathlib import Path

import pytest
from conftest import ROOT, TODAY, invoke
from golden_answers import CASE_DIGESTS, case_digests, decide_json, examples, golden_of

from lumakras_logic.core.answer import Answer, Criterion, Otherwise, Provenance, ToDocument
from lumakras_logic.core.request import request_files
from lumakras_logic.core.stream import dumps

REGENERATE = "if a kb change meant this, write the goldens again: python tests/golden_answers.py"


def same_text(got: str, want: str, name: str) -> None:
    """Assert two texts are equal, showing the first lines that differ (the goldens are long)."""
    if got != want:
        diff = list(difflib.unified_diff(want.splitlines(), got.splitlines(), "golden", "now", lineterm="", n=1))
        pytest.fail(f"{name}: the answer's JSON changed ({REGENERATE}):\n" + "\n".join(diff[:40]))


def golden_answers(order: list[Path] | None = None) -> list[dict]:
    """Every golden answer of the examples (in the given order of files), each a dict in its JSON key order."""
    return [a for example in order or examples() for a in json.loads(golden_of(example).read_text(encoding="utf-8"))]


@pytest.mark.parametrize("example", examples(), ids=lambda p: p.name)
def test_every_example_answers_its_golden_json(decider, monkeypatch, example: Path) -> None:
    """decide --json --payer all EXAMPLE, made from the typed answers' to_json(), is the golden text."""
    monkeypatch.chdir(ROOT)  # request_source is the path as given
    same_text(decide_json(decider, example), golden_of(example).read_text(encoding="utf-8"), example.name)


def test_every_inline_case_request_answers_its_golden_digest(decider) -> None:
    want = CASE_DIGESTS.read_text(encoding="utf-8").splitlines()
    got = case_digests(decider)
    changed = [g.split("\t")[:2] for g, w in zip(got, want, strict=False) if g != w]
    assert len(got) == len(want) and not changed, f"{changed[:5]}: answers changed ({REGENERATE})"
    assert len(got) > 1000


def test_the_command_prints_the_goldens_on_two_processes(monkeypatch) -> None:
    """`decide --json --payer all queries/` forks workers that send typed answers back: the text is the
    goldens' answers, one array, in order."""
    monkeypatch.chdir(ROOT)
    result = invoke("decide", "--json", "--payer", "all", "--jobs", "2", "queries/")
    assert result.exit_code == 0, result.output
    order = request_files([Path("queries")])  # a folder's files in the order decide takes them
    assert sorted(order) == sorted(examples())
    same_text(result.stdout, dumps(golden_answers(order)) + "\n", "decide --json --payer all queries/")


def test_from_json_reads_back_every_golden_answer() -> None:
    answers = golden_answers()
    assert {a["decision"] for a in answers} == {"approve", "refer", "pend", "deny"}
    assert any("otherwise" in a for a in answers) and any("unclassified" in a for a in answers)
    assert any("given" in t for a in answers for t in a["to_document"])
    for a in answers:
        typed = Answer.from_json(a)
        assert json.dumps(typed.to_json(), ensure_ascii=False) == json.dumps(a, ensure_ascii=False)


def test_a_live_answer_survives_json_and_pickle(decider, monkeypatch) -> None:
    """from_json(to_json(a)) == a (every field typed alike), and a pickled answer (as --jobs workers and
    impact's old-kb process send it) is the same answer."""
    monkeypatch.chdir(ROOT)
    seen = 0
    for example in examples():
        for outcome in decider.answer_files([example], "all"):
            for a in outcome.answers:
                assert isinstance(a, Answer)
                assert Answer.from_json(a.to_json()) == a
                assert pickle.loads(pickle.dumps(a)) == a
                seen += 1
    assert seen > 100


def test_optional_fields_are_left_out_when_they_do_not_apply() -> None:
    """As docs/answers.md says: refer_by, unclassified and otherwise only where they apply; a to_document
    item's question, name, any_of and given likewise; a criterion's combines and parts only when it has
    parts. `otherwise` given, even empty, is written (the untyped answer wrote what the kb gave)."""
    leaf = Criterion(id="X.1", status="met", text="t", cite="c", because=("b",), rules=("kb/x.dl:1",))
    assert list(leaf.to_json()) == ["id", "status", "text", "cite", "because", "rules"]
    parent = Criterion(id="X", status="met", text="t", cite="c", because=("all",), rules=(), combines="all",
                       parts=(leaf,))
    assert list(parent.to_json())[-2:] == ["combines", "parts"]
    item = ToDocument(pathway="X", criterion="X.1", node="X.1", field="f", text="t", because="b")
    assert list(item.to_json()) == ["pathway", "criterion", "node", "field", "text", "because"]
    prov = Provenance(policy="P", revision="1", title="T", kb_digest="0" * 64, kb_files=("kb/x.dl",), engine="e",
                      request_source="r.yaml", request_date=TODAY)
    bare = Answer(request="R", payer="p", policy="P", decision="deny", pathway=None, approval_months=None,
                  refer_to=None, criteria=(), closest=(), to_document=(), provenance=prov)
    assert list(bare.to_json()) == ["request", "payer", "policy", "decision", "pathway", "approval_months",
                                    "refer_to", "criteria", "closest", "to_document", "provenance"]
    assert bare.to_json()["provenance"]["request_date"] == TODAY.isoformat()
    full = Answer(**{**bare.__dict__, "refer_by": "X.2", "otherwise": (Otherwise(text="o", cite="c", because=("X",)),)})
    assert list(full.to_json())[-3:] == ["refer_by", "otherwise", "provenance"]
    assert Answer(**{**bare.__dict__, "otherwise": ()}).to_json()["otherwise"] == []
