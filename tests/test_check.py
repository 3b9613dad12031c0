"""`lumakras check`: the shipped kb passes, and each kind of problem is caught, at its file:line, in a fixture.

Each tests/fixtures/check/<problem>.dl is a small made-up payer (LINT-1) loaded beside the shipped kb, with
one mistake; its first line says what check must report: `# expect: LINE: words | LINE: words`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from lumakras_logic.authoring.check import check_kb
from lumakras_logic.cli import main
from lumakras_logic.core.kbtext import parse_text

FIXTURES = ROOT / "tests" / "fixtures" / "check"
KB = ROOT / "kb"
BROKEN = sorted(p for p in FIXTURES.glob("*.dl") if p.stem != "valid")




def expected(path: Path) -> list[tuple[int, str]]:
    head = path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert head.startswith("# expect: "), f"{path}: the first line says what check must report"
    out = []
    for item in head[len("# expect: "):].split(" | "):
        line, _, words = item.partition(": ")
        out.append((int(line), words))
    return out


def test_the_shipped_kb_has_no_problems() -> None:
    problems, kb = check_kb([KB])
    assert [str(p) for p in problems] == []
    assert kb is not None and set(kb.payers()) == {"centene", "cigna"}


def test_the_valid_fixture_payer_has_no_problems() -> None:
    problems, _kb = check_kb([KB, FIXTURES / "valid.dl"])
    assert [str(p) for p in problems] == []


@pytest.mark.parametrize("fixture", BROKEN, ids=[p.stem for p in BROKEN])
def test_each_problem_is_reported_at_its_line(fixture: Path) -> None:
    problems, _kb = check_kb([KB, fixture])
    got = [str(p) for p in problems]
    for line, words in expected(fixture):
        assert any(p.where.endswith(f"{fixture.name}:{line}") and words in p.message for p in problems), \
            f"expected {fixture.name}:{line}: {words}; check said {got}"
    # nothing else: every problem reported is one the fixture expects
    assert len(problems) == len(expected(fixture)), got


def test_problems_are_one_line_each_with_file_and_line() -> None:
    problems, _kb = check_kb([KB, *BROKEN])
    assert problems
    for p in problems:
        assert "\n" not in str(p)
        path, _, line = p.where.rpartition(":")
        assert path and line.isdigit(), str(p)


def test_every_syntax_error_of_a_file_is_reported_not_only_the_first() -> None:
    errors: list = []
    statements = parse_text("+ f(1) $\n+ g(2)\nh(X) <= g(X) & import(X)\n+ k(3)\n", "t.dl", errors)
    assert [e.line for e in errors] == [1, 3]
    assert [s.head for s in statements] == ["g", "k"]


def test_cli_exit_status_and_output(tmp_path: Path) -> None:
    ok = CliRunner().invoke(main, ["check", str(KB)])
    assert ok.exit_code == 0, ok.output
    assert "no problems" in ok.output and "every pathway can be met" in ok.output
    bad = CliRunner().invoke(main, ["check", str(KB), str(FIXTURES / "unknown-drug.dl")])
    assert bad.exit_code == 1
    assert "unknown-drug.dl:20: the param of 1.C's lacks_drug test" in bad.output
    missing = CliRunner().invoke(main, ["check", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1
    assert "no such knowledge-base folder" in missing.output


def test_check_runs_on_the_kb_folders_given_with_kb_too() -> None:
    result = CliRunner().invoke(main, ["check", "--kb", str(KB), "--kb", str(FIXTURES / "duplicate.dl")])
    assert result.exit_code == 1
    assert "duplicate.dl:18: duplicate of" in result.output
