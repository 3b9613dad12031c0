"""`lumakras test`: cases pass or fail with readable differences, malformed files are named, and
--coverage shows the statuses the cases drive against those the policy allows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, TODAY, invoke, shared_decider

from lumakras_logic.authoring.runner import coverage, run_files

APPROVE = ROOT / "queries" / "centene-approve-nsclc-I.A.yaml"
KRAZATI = ROOT / "queries" / "centene-deny-prior-krazati.yaml"




def run(*args: str | Path):
    return invoke("test", "--today", TODAY.isoformat(), *args)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_passing_cases_exit_0_with_counts(tmp_path: Path) -> None:
    write(tmp_path, "ok.yaml", f"""
cases:
  - name: approve I.A
    request_file: {APPROVE}
    expect:
      centene: {{decision: approve, pathway: I.A, approval_months: 6, criteria: {{I.A.3: met}}}}
  - name: deny for Krazati, and why
    request_file: {KRAZATI}
    expect:
      centene:
        decision: deny
        nearest: I.A
        criteria: {{I.A.7: not_met}}
        because: {{I.A.7: krazati}}
""")
    result = run(tmp_path, "-v")
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "2 cases in 1 files: 2 passed, 0 failed" in result.output


def test_a_failing_case_shows_each_difference_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", f"""
name: wrong on purpose
request_file: {KRAZATI}
expect:
  centene:
    decision: approve
    criteria: {{I.A.7: met}}
    because: {{I.A.7: pembrolizumab}}
""")
    result = run(tmp_path)
    assert result.exit_code == 1
    out = result.output
    assert "FAIL" in out and "wrong on purpose" in out
    assert "centene: decision is 'deny', expected 'approve'" in out
    assert "criteria.I.A.7 is not_met, expected met (because:" in out and "Krazati" in out
    assert "because.I.A.7 does not say 'pembrolizumab'" in out
    assert "1 cases in 1 files: 0 passed, 1 failed" in out


def test_pend_case_asserts_what_to_send(tmp_path: Path) -> None:
    write(tmp_path, "pend.yaml", f"""
request_file: {ROOT / "queries" / "cigna-pend-kras-test-undocumented.yaml"}
expect:
  cigna: {{decision: pend, to_document: [diagnosis.kras_test]}}
""")
    assert run(tmp_path).exit_code == 0
    write(tmp_path, "pend.yaml", f"""
request_file: {ROOT / "queries" / "cigna-pend-kras-test-undocumented.yaml"}
expect:
  cigna: {{decision: pend, to_document: [member.age]}}
""")
    result = run(tmp_path)
    assert result.exit_code == 1
    assert "to_document fields are ['diagnosis.kras_test'], expected ['member.age']" in result.output


@pytest.mark.parametrize("text,named", [
    ("request: {id: x}\nexpect: {centene: {decison: deny}}\n", "expect.centene.decison: unknown key"),
    ("request: {id: x}\nexpect: {centene: {criteria: {I.A.1: yes}}}\n", "expect.centene.criteria.I.A.1"),
    ("request: {id: x}\nexpect: {centene: {because: [I.A.1]}}\n", "expect.centene.because: must map"),
    ("request_file: nowhere.yaml\nexpect: {centene: {decision: deny}}\n", "request_file: no such file"),
    ("expect: {centene: {decision: deny}}\n", "request: give exactly one of request or request_file"),
    ("request: {id: x}\n", "expect: must map each payer"),
    ("cases: [1, 2]\n", "a case is a mapping"),
    ("request: [unclosed\n", "not valid YAML (line 2)"),
])
def test_a_malformed_case_file_is_named_with_its_key_and_exits_2(tmp_path: Path, text: str, named: str) -> None:
    write(tmp_path, "good.yaml", f"request_file: {APPROVE}\nexpect: {{centene: {{decision: approve}}}}\n")
    bad = write(tmp_path, "broken.yaml", text)
    result = run(tmp_path)
    assert result.exit_code == 2
    assert f"{bad}" in result.stderr and named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "1 cases in 2 files: 1 passed, 0 failed, 1 files malformed" in result.stdout  # the others still run


def test_a_rejected_request_can_be_the_expectation(tmp_path: Path) -> None:
    write(tmp_path, "err.yaml", "request: {id: x, member: {age: 70}}\nexpect: {centene: {error: line_of_business}}\n")
    assert run(tmp_path).exit_code == 0


def test_json_output(tmp_path: Path) -> None:
    write(tmp_path, "c.yaml", f"request_file: {APPROVE}\nexpect: {{centene: {{decision: deny}}}}\n")
    result = run(tmp_path, "--json")
    doc = json.loads(result.stdout)
    assert doc["passed"] == [] and doc["failed"][0]["differences"] == [
        "centene: decision is 'approve', expected 'deny'"]


def test_coverage_marks_reached_gaps_and_disallowed(tmp_path: Path) -> None:
    decider = shared_decider()
    write(tmp_path, "one.yaml", f"request_file: {APPROVE}\nexpect: {{centene: {{decision: approve}}}}\n")
    report = run_files(decider, [tmp_path])
    rows = {(r["payer"], r["criterion"]): r for r in coverage(decider, report.reached)}
    ia3 = rows[("centene", "I.A.3")]
    assert ia3["reached"] == ["met"] and ia3["gaps"] == ["not_met", "not_documented"]
    # no generic sotorasib is marketed (reading 7): I.A.8 can only be met, so it has no gap
    assert rows[("centene", "I.A.8")]["allowed"] == ["met"] and rows[("centene", "I.A.8")]["gaps"] == []
    # one Centene case drives no Cigna criterion
    assert rows[("cigna", "1.A")]["reached"] == [] and rows[("cigna", "1.A")]["gaps"]
    result = run(tmp_path, "--coverage")
    assert "✘ gap" in result.output and "I.A.3 never not_met" in result.output


@pytest.mark.slow
def test_the_project_cases_leave_no_coverage_gap() -> None:
    result = run(ROOT / "tests" / "cases", "--coverage")
    assert result.exit_code == 0, result.output
    assert "✘ gap  " not in result.output and "gaps:" not in result.output
    assert result.output.count("no gaps") == 2


def test_results_are_written_as_the_cases_run(capsys: pytest.CaptureFixture[str]) -> None:
    """Text and JSON: a case's line is out before the next case runs (nothing of a case is kept)."""
    from lumakras_logic.authoring.runner import Result, write_json, write_text

    seen: list[str] = []

    def results():  # each result yielded after looking at what was written for the one before
        yield Result("first", "a.yaml", ["centene: decision is 'deny', expected 'approve'"])
        seen.append(capsys.readouterr().out)
        yield Result("second", "b.yaml", [])
        seen.append(capsys.readouterr().out)

    write_text(results(), verbose=True)
    assert seen[0] == "FAIL  a.yaml: first\n        centene: decision is 'deny', expected 'approve'\n"
    assert seen[1] == "PASS  b.yaml: second\n"
    seen.clear()
    write_json(results(), lambda: {"malformed": []})
    assert "".join(seen) == '{\n  "passed": [\n    "second"'  # the failure waits in a temporary file
    report = json.loads("".join(seen) + capsys.readouterr().out)
    assert report == {"passed": ["second"], "malformed": [],
                      "failed": [{"case": "first", "file": "a.yaml",
                                  "differences": ["centene: decision is 'deny', expected 'approve'"]}]}
