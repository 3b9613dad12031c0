"""`lumakras impact`: a kb change re-decides the cases under both kbs and lists exactly those that changed.

The variants of the kb are copies of kb/ in a temporary folder with one fact changed; the expected changes
are derived from the policy and the change (an age threshold of 21 sends a 19-year-old's NSCLC request out
of Section I, reading 1), or from the case file that pins the answers of queries/ (a shorter Medicaid
duration of I.A changes exactly the requests approved under I.A for Medicaid).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import ROOT, TODAY

from lumakras_logic.analysis.impact import is_case_file, kb_file_digests, looks_like_request
from lumakras_logic.cli.impact import impact_command

KB = ROOT / "kb"
ACME = ROOT / "tests" / "fixtures" / "acme"
QUERIES = ROOT / "queries"
APPROVE_NSCLC = QUERIES / "centene-approve-nsclc-I.A.yaml"
CIGNA_AMPULLARY = QUERIES / "cigna-approve-ampullary-3.yaml"
INITIAL = Path("payers") / "centene" / "initial.dl"


def run(*args: str | Path, cwd: Path = ROOT) -> Result:
    """`lumakras impact ARGS` in-process, from the project folder (case files name requests relative to
    it); a crash is raised again so that it shows its traceback."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        result = CliRunner().invoke(impact_command, ["--today", TODAY.isoformat(), *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def kb_variant(base: Path, old: str, new: str) -> Path:
    """A copy of kb/ (named kb, as the shipped one) with one fact of Centene's initial.dl replaced."""
    target = base / "kb"
    shutil.copytree(KB, target)
    path = target / INITIAL
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return target


def request_like(base: Path, name: str, **changes: Any) -> Path:
    """The approved NSCLC request of queries/, with some fields changed."""
    doc = yaml.safe_load(APPROVE_NSCLC.read_text(encoding="utf-8"))
    doc.update(changes)
    path = base / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def age21(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Centene I.A.3 asks for 21 years instead of 18."""
    return kb_variant(tmp_path_factory.mktemp("age21"),
                      "test('centene', 'I.A.3', 'at_least', 'member.age', 18)",
                      "test('centene', 'I.A.3', 'at_least', 'member.age', 21)")


@pytest.fixture(scope="module")
def requests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 19-year-old and a 25-year-old with NSCLC (Medicaid), and a Cigna request."""
    base = tmp_path_factory.mktemp("requests")
    request_like(base, "age-19.yaml", id="AGE-19", member={"age": 19})
    request_like(base, "age-25.yaml", id="AGE-25", member={"age": 25})
    shutil.copy(CIGNA_AMPULLARY, base)
    return base


@pytest.fixture(scope="module")
def age21_json(age21: Path, requests: Path) -> dict[str, Any]:
    result = run("--old", KB, "--new", age21, "--json", requests)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def by_case(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["case"], c["payer"]): c for c in report["changes"]}


# --------------------------------------------------------------------------------------------------------
# What changes, and how it is shown
# --------------------------------------------------------------------------------------------------------


def test_a_19_year_old_goes_from_approve_to_refer_when_the_age_rises_to_21(age21_json: dict[str, Any]) -> None:
    change = by_case(age21_json)[("AGE-19", "centene")]
    assert change["changed"] == ["decision", "pathway", "duration", "refer_to", "reasons"]
    before, after = change["before"], change["after"]
    assert (before["decision"], before["pathway"], before["approval_months"], before["refer_to"]) == \
        ("approve", "I.A", 6, None)
    # reading 1: a member under the age of Section I is referred to the off-label policy; Medicaid: CP.PMN.53
    assert (after["decision"], after["pathway"], after["approval_months"], after["refer_to"]) == \
        ("refer", "I.D", None, "CP.PMN.53")
    age = next(k for k in change["criteria"] if k["id"] == "I.A.3")
    assert (age["before"], age["after"]) == ("met", "not_met")
    assert any("18" in b for b in age["because_before"]) and any("21" in b for b in age["because_after"])


def test_a_reason_whose_words_changed_is_a_change_with_the_status_unchanged(age21_json: dict[str, Any]) -> None:
    change = by_case(age21_json)[("AGE-25", "centene")]
    assert change["changed"] == ["reasons"]
    assert change["before"]["decision"] == change["after"]["decision"] == "approve"
    [age] = change["criteria"]
    assert (age["id"], age["before"], age["after"]) == ("I.A.3", "met", "met")
    assert age["because_before"] != age["because_after"]


def test_unchanged_cases_are_counted_not_listed(age21_json: dict[str, Any]) -> None:
    assert set(by_case(age21_json)) == {("AGE-19", "centene"), ("AGE-25", "centene")}
    summary = age21_json["summary"]
    assert (summary["cases"], summary["payers"], summary["answers"]) == (3, 2, 3)
    assert (summary["changed"], summary["unchanged"], summary["decision"], summary["reasons"]) == (2, 1, 1, 2)


def test_the_json_names_the_changed_file_and_the_digests(age21_json: dict[str, Any]) -> None:
    assert {"old", "new", "files", "changes", "summary"} <= set(age21_json)
    files = age21_json["files"]
    assert files["added"] == [] and files["removed"] == []
    assert [Path(f).as_posix().endswith(INITIAL.as_posix()) for f in files["changed"]] == [True]
    old, new = age21_json["old"]["payers"], age21_json["new"]["payers"]
    assert old["centene"]["kb_digest"] != new["centene"]["kb_digest"]
    assert old["cigna"]["kb_digest"] == new["cigna"]["kb_digest"]  # Centene's file decides no Cigna request
    assert files["by_payer"]["centene"] == files["changed"] and files["by_payer"]["cigna"] == []


def test_text_shows_before_and_after_and_fail_on_change_exits_1(age21: Path, requests: Path) -> None:
    result = run("--old", KB, "--new", age21, requests, "-v", "--fail-on-change")
    assert result.exit_code == 1, result.stderr
    out = result.stdout
    assert "AGE-19 (centene): decision approve → refer; pathway I.A → I.D; approval_months 6 → —" in out
    assert "    I.A.3: met → not_met" in out
    assert "I.A.3: met, because changed" in out
    assert "unchanged  Q-cigna-approve-ampullary-3 (cigna)" in out
    assert "3 cases under 2 payers re-decided (3 answers): 2 changed (decision 1, pathway 1, duration 1, " \
           "reasons 2, refer_to 1), 1 unchanged" in out
    assert "kb files: changed " in out and INITIAL.as_posix() in out


def test_markdown_has_a_table_of_the_changed_cases(age21: Path, requests: Path) -> None:
    result = run("--old", KB, "--new", age21, "--format", "markdown", requests / "age-19.yaml")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| case | payer | decision | pathway | months | refer to | reasons |" in lines
    row = next(line for line in lines if line.startswith("| AGE-19"))
    assert "| centene | approve → refer | I.A → I.D | 6 → — | — → CP.PMN.53 |" in row


def test_a_shorter_medicaid_duration_changes_exactly_the_medicaid_approvals_under_I_A(
        tmp_path: Path) -> None:
    new = kb_variant(tmp_path, "duration('centene', 'I.A', 'medicaid', 6)", "duration('centene', 'I.A', 'medicaid', 3)")
    pinned = ROOT / "tests" / "cases" / "queries.yaml"
    files = [QUERIES / f"{name}.yaml" for name in (
        "centene-approve-nsclc-I.A", "centene-approve-commercial-requested-3-months",
        "centene-approve-crc-I.B-vectibix", "centene-refer-under-18-marketplace", "both-deny-kras-negative",
        "centene-approve-continuation-new-to-plan-I.A")]
    result = run("--old", KB, "--new", new, "--format", "json", *files, pinned)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    # From the answers tests/cases/queries.yaml pins (derived from the policy): the Centene approvals under
    # I.A of Medicaid requests, both as cases of that file and as the request files given.
    expected = set()
    for case in yaml.safe_load(pinned.read_text(encoding="utf-8"))["cases"]:
        want = case["expect"].get("centene", {})
        doc = yaml.safe_load((ROOT / case["request_file"]).read_text(encoding="utf-8"))
        if (want.get("decision"), want.get("pathway")) == ("approve", "I.A") and \
                doc.get("line_of_business") == "medicaid":
            assert want.get("approval_months", 6) == 6
            expected.add((case["name"], "centene"))
            if ROOT / case["request_file"] in files:
                expected.add((doc["id"], "centene"))
    # Reading 12: a Medicaid continuation of a member new to the plan is approved under I.A, so I.A's
    # duration is its duration too.
    expected.add(("Q-centene-approve-continuation-new-to-plan-I.A", "centene"))
    assert ("Q-centene-approve-nsclc-I.A", "centene") in expected and len(expected) >= 3
    assert {(c["case"], c["payer"]) for c in report["changes"]} == expected
    for c in report["changes"]:
        assert c["changed"] == ["duration"] and c["criteria"] == []
        assert (c["before"]["approval_months"], c["after"]["approval_months"]) == (6, 3)
    assert report["summary"]["duration"] == report["summary"]["changed"] == len(expected)
    assert report["summary"]["unchanged"] > 0 and report["summary"]["errors"] == 0


# --------------------------------------------------------------------------------------------------------
# The identical kb, payers only one kb has, bad input and bad kbs
# --------------------------------------------------------------------------------------------------------


def test_an_identical_kb_changes_nothing(tmp_path: Path) -> None:
    same = tmp_path / "kb-copy"
    shutil.copytree(KB, same)
    cases = tmp_path / "cases.yaml"  # a case that expects a rejection is an answer like any other
    cases.write_text(yaml.safe_dump({"cases": [{
        "name": "no line of business", "request": {"id": "NOLOB", "member": {"age": 60}},
        "expect": {"centene": {"error": "line_of_business"}, "cigna": {"decision": "pend"}}}]}), encoding="utf-8")
    result = run("--old", KB, "--new", same, "--fail-on-change", QUERIES, cases)
    assert result.exit_code == 0, result.stderr
    assert " 0 changed (decision 0, pathway 0, duration 0, reasons 0)" in result.stdout
    assert "kb files: identical" in result.stdout  # kb-copy/x.dl is compared with kb/x.dl
    # the digests name the kb folder, so they move with its name; the report says the contents did not
    centene = next(line for line in result.stdout.splitlines() if line.startswith("payer centene: "))
    assert "its files have the same contents" in centene
    assert result.stderr == ""


def test_a_malformed_request_is_one_line_and_exit_2_and_the_others_are_still_reported(
        age21: Path, requests: Path, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    shutil.copytree(requests, folder)
    (folder / "bad.yaml").write_text("id: BAD-1\npayer: centene\nline_of_business: medicaid\nmember: {age: old}\n",
                                     encoding="utf-8")
    (folder / "tool.yaml").write_text("repos: [a, b]\n", encoding="utf-8")  # clearly not a request: skipped
    result = run("--old", KB, "--new", age21, folder)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "bad.yaml: member.age:" in line and line.startswith("lumakras: ")
    assert "AGE-19 (centene): decision approve → refer" in result.stdout
    assert "; 1 could not be read" in result.stdout


def test_a_payer_only_in_the_new_kb_is_a_reported_change() -> None:
    result = run("--old", KB, "--new", KB, "--new", ACME / "kb", "--payer", "all", "--json",
                 ACME / "requests" / "acme-approve-nsclc.yaml", APPROVE_NSCLC)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    changes = by_case(report)
    assert set(changes) == {("ACME-0001", "acme"), ("Q-centene-approve-nsclc-I.A", "acme")}
    for c in changes.values():
        assert c["changed"] == ["payer"] and c["before"] is None and c["after"]["decision"] == "approve"
    assert report["summary"]["unchanged"] == 4  # both requests under centene and cigna
    assert "acme" in report["new"]["payers"] and "acme" not in report["old"]["payers"]
    assert [Path(f).name for f in report["files"]["added"]] == ["acme.dl"]


def test_the_text_says_which_kb_has_the_payer() -> None:
    result = run("--old", KB, "--new", KB, "--new", ACME / "kb", ACME / "requests" / "acme-approve-nsclc.yaml")
    assert result.exit_code == 0, result.stderr
    assert "ACME-0001 (acme): payer acme: only in the new kb (new: approve via 1 for 6 months)" in result.stdout
    assert "payer acme: only in the new kb" in result.stdout.splitlines()


def test_a_kb_that_cannot_load_exits_3_naming_its_side(tmp_path: Path) -> None:
    missing = run("--old", KB, "--new", tmp_path / "nowhere", APPROVE_NSCLC)
    assert missing.exit_code == 3 and "(new, --new)" in missing.stderr and "nowhere" in missing.stderr
    broken = tmp_path / "broken.dl"
    broken.write_text("garbage(((\n", encoding="utf-8")
    result = run("--old", KB, "--old", broken, "--new", KB, APPROVE_NSCLC)
    assert result.exit_code == 3 and "(old, --old)" in result.stderr and "broken.dl:1" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(impact_command, ["--help"])
    assert result.exit_code == 0 and "lumakras impact --old" in result.output and "--fail-on-change" in result.output


# --------------------------------------------------------------------------------------------------------
# Reading the inputs and the kb files (no kb loaded)
# --------------------------------------------------------------------------------------------------------


def test_a_case_file_is_told_from_a_request_by_its_content() -> None:
    assert is_case_file({"cases": []})
    assert is_case_file({"request_file": "x.yaml", "expect": {"centene": {}}})
    assert not is_case_file({"id": "R", "payer": "centene"})
    assert looks_like_request({"id": "R"}) and looks_like_request({"member": {"age": 3}})
    assert not looks_like_request({"repos": []}) and not looks_like_request(["id"]) and not looks_like_request(None)


def test_kb_files_are_matched_by_their_path_within_the_folder(tmp_path: Path) -> None:
    for name, text in (("kb-v1", "a"), ("kb", "b")):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "x.dl").write_text(text, encoding="utf-8")
    old, new = kb_file_digests((tmp_path / "kb-v1",)), kb_file_digests((tmp_path / "kb",))
    assert set(old) == set(new) == {"sub/x.dl"}
    assert new["sub/x.dl"] == (str(tmp_path / "kb" / "sub" / "x.dl"), hashlib.sha256(b"b").hexdigest())


# --------------------------------------------------------------------------------------------------------
# Streaming: the old kb in its own process, each change written as soon as it is found
# --------------------------------------------------------------------------------------------------------


def test_each_change_is_written_before_the_next_case_is_read(age21: Path, requests: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The report is made case by case on one pair of processes: when the third request is read, the change
    of the first two is already out (nothing waits for the end but the counts); the old kb's process is gone
    afterwards. (On more pairs, a chunk of cases at a time: tests/test_jobs.py.)"""
    import multiprocessing

    from click.testing import CliRunner

    import lumakras_logic.analysis.impact as impact
    import lumakras_logic.cli.impact as command

    written: list[str] = []
    seen_at_third: list[str] = []
    real = command.read_inputs

    def watched(*args: Any, **kwargs: Any) -> Any:
        for n, entry in enumerate(real(*args, **kwargs)):
            if n == 2:
                seen_at_third.append("".join(written))
            yield entry

    monkeypatch.setattr(command, "read_inputs", watched)
    monkeypatch.setattr(impact.click, "echo", lambda text="", nl=True, err=False, **_: None if err else
                        written.append(str(text) + ("\n" if nl else "")))
    result = CliRunner().invoke(impact_command, ["--jobs", "1", "--today", TODAY.isoformat(), "--old", str(KB), "--new",
                                                 str(age21), str(requests / "age-19.yaml"),
                                                 str(requests / "age-25.yaml"), str(CIGNA_AMPULLARY)])
    assert result.exit_code == 0, result.output
    [before_third] = seen_at_third
    assert "AGE-19 (centene): decision approve → refer" in before_third
    assert "AGE-25 (centene): reasons of I.A.3" in before_third
    assert "re-decided" not in before_third and "re-decided" in "".join(written)
    assert multiprocessing.active_children() == []


def test_a_kb_that_fails_on_a_request_in_the_old_process_exits_3_naming_the_old_side(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KbError met while the old kb decides (in its own process) is the old side's failure, exit 3."""
    import multiprocessing

    import lumakras_logic.analysis.impact as impact
    from lumakras_logic.core.kb import KbError

    old = tmp_path / "kb"
    shutil.copytree(KB, old)
    marked = old / "payers" / "centene" / "initial.dl"
    marked.write_text(marked.read_text(encoding="utf-8") + "\n# this copy fails on every request\n",
                      encoding="utf-8")
    real = impact.decide_item

    def failing(decider: Any, item: Any, payer: Any) -> Any:
        if old in [Path(d) for d in decider.kb.dirs]:
            raise KbError("initial.dl:1: a leaf derived no row")
        return real(decider, item, payer)

    monkeypatch.setattr(impact, "decide_item", failing)  # inherited by the forked process
    result = run("--old", old, "--new", KB, APPROVE_NSCLC)
    assert result.exit_code == 3 and result.stderr.splitlines() == \
        ["lumakras: knowledge base (old, --old): initial.dl:1: a leaf derived no row"]
    assert multiprocessing.active_children() == []
