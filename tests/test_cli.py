"""The `lumakras` command line: output shapes, exit statuses, errors on stderr, and the help's examples."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT, invoke, run_with_terminal_stderr

from lumakras_logic.cli import main

APPROVE = ROOT / "queries" / "centene-approve-nsclc-I.A.yaml"
DENY = ROOT / "queries" / "centene-deny-prior-krazati.yaml"
KEYS = ("request", "payer", "policy", "decision", "pathway", "approval_months", "refer_to", "criteria",
        "closest", "to_document")




def run(*args: str | Path):
    return invoke(*args)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


PEND = """\
id: CLI-pend
date: 2026-03-01
line_of_business: medicaid
member: {age: 64}
diagnosis: {condition: nsclc, disease_state: [metastatic], kras_g12c: positive}
prescriber: {specialty: oncology}
medication: {product: lumakras, dose_mg_per_day: 960, with: []}
"""

NO_LOB = """\
id: CLI-no-lob
date: 2026-03-01
member: {age: 64}
diagnosis: {condition: nsclc, disease_state: [metastatic], kras_g12c: positive, kras_test: fda_approved}
prior_therapies: [carboplatin]
"""


# --------------------------------------------------------------------------------------------------------
# decide --json
# --------------------------------------------------------------------------------------------------------


def test_one_request_one_payer_prints_one_object():
    r = run("decide", APPROVE, "--payer", "centene", "--json")
    assert r.exit_code == 0, r.stderr
    answer = json.loads(r.stdout)
    assert isinstance(answer, dict)
    for key in KEYS:
        assert key in answer, key
    assert answer["request"] == "Q-centene-approve-nsclc-I.A"
    assert (answer["payer"], answer["policy"], answer["decision"], answer["pathway"], answer["approval_months"]) \
        == ("centene", "CP.PHAR.549", "approve", "I.A", 6)
    assert answer["refer_to"] is None
    # Reading 12: each Section I pathway first asks that Section I applies (I.review: an initial request, or a
    # continuation of a member new to the plan); then the policy's I.A.1-I.A.9.
    assert [c["id"] for c in answer["criteria"]] == ["I.review"] + [f"I.A.{i}" for i in range(1, 10)]
    assert all({"id", "status", "text", "because"} <= set(c) for c in answer["criteria"])
    assert answer["closest"] == [] and answer["to_document"] == []


def test_request_own_payer_is_used_without_option():
    r = run("decide", DENY, "--json")
    assert r.exit_code == 0, r.stderr
    answer = json.loads(r.stdout)
    assert (answer["payer"], answer["decision"], answer["pathway"]) == ("centene", "deny", None)
    assert answer["closest"] and answer["closest"][0]["pathway"] == "I.A"


def test_payer_option_overrides_the_request():
    answer = json.loads(run("decide", DENY, "--payer", "cigna", "--json").stdout)
    assert (answer["payer"], answer["decision"], answer["pathway"], answer["approval_months"]) == \
        ("cigna", "approve", "1", 12)


def test_several_requests_print_an_array():
    r = run("decide", APPROVE, DENY, "--payer", "centene", "--json")
    assert r.exit_code == 0, r.stderr
    answers = json.loads(r.stdout)
    assert isinstance(answers, list)
    assert [(a["request"], a["decision"]) for a in answers] == [
        ("Q-centene-approve-nsclc-I.A", "approve"), ("Q-centene-deny-prior-krazati", "deny")]
    for a in answers:
        assert all(k in a for k in KEYS)


def test_payer_all_prints_an_array_even_for_one_request():
    r = run("decide", DENY, "--payer", "all", "--json")
    assert r.exit_code == 0, r.stderr
    answers = json.loads(r.stdout)
    assert isinstance(answers, list)
    assert [(a["payer"], a["decision"]) for a in answers] == [("centene", "deny"), ("cigna", "approve")]


def test_decide_without_json_prints_a_summary_per_answer():
    r = run("decide", APPROVE, DENY, "--payer", "all")
    assert r.exit_code == 0, r.stderr
    heads = [line for line in r.stdout.splitlines() if not line.startswith(" ")]
    assert len(heads) == 4
    assert heads[0].startswith("Q-centene-approve-nsclc-I.A  centene CP.PHAR.549: APPROVE via I.A for 6 months")
    assert "DENY" in heads[2]


# --------------------------------------------------------------------------------------------------------
# Bad input and exit statuses
# --------------------------------------------------------------------------------------------------------


def test_batch_with_one_bad_file(tmp_path):
    bad = write(tmp_path, "bad.yaml", "id: CLI-bad\nmember:\n  age: sixty\n")
    r = run("decide", APPROVE, bad, DENY, "--payer", "centene", "--json")
    assert r.exit_code == 2
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 1, r.stderr
    assert str(bad) in errors[0] and "member.age" in errors[0]
    answers = json.loads(r.stdout)
    assert [a["request"] for a in answers] == ["Q-centene-approve-nsclc-I.A", "Q-centene-deny-prior-krazati"]


@pytest.mark.parametrize("name, text, expected", [
    ("notyaml.yaml", "id: [unclosed\n", "not valid YAML"),
    ("list.yaml", "- id: X\n", ": (document): "),
    ("noid.yaml", "member: {age: 60}\n", ": id: "),
    ("lob.yaml", "id: L\nline_of_business: medicare\n", ": line_of_business: "),
    ("typo.yaml", "id: T\nprior_therapy: [carboplatin]\n", ": prior_therapy: "),
    ("dose.yaml", "id: D\nmedication: {dose_mg_per_day: 960mg}\n", ": medication.dose_mg_per_day: "),
    ("newline.yaml", 'id: N\n"prior\\ntherapies": [x]\n', "prior"),
])
def test_bad_file_one_line_error(tmp_path, name, text, expected):
    bad = write(tmp_path, name, text)
    r = run("decide", bad, APPROVE, "--payer", "cigna", "--json")
    assert r.exit_code == 2
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith(f"lumakras: {bad}: ")
    assert expected in errors[0], errors[0]
    assert json.loads(r.stdout)[0]["request"] == "Q-centene-approve-nsclc-I.A"


def test_impossible_date_is_a_one_line_error(tmp_path):
    bad = write(tmp_path, "date.yaml", "id: X\ndate: 2026-13-01\n")
    r = CliRunner().invoke(main, ["decide", str(bad), str(APPROVE), "--payer", "cigna", "--json"])
    assert r.exit_code == 2, (r.exit_code, repr(r.exception))
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 1 and str(bad) in errors[0] and "date" in errors[0], r.stderr
    assert json.loads(r.stdout)[0]["request"] == "Q-centene-approve-nsclc-I.A"


def test_centene_without_line_of_business(tmp_path):
    path = write(tmp_path, "nolob.yaml", NO_LOB)
    r = run("decide", path, "--payer", "centene", "--json")
    assert r.exit_code == 2
    assert r.stdout.strip() == ""
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 1 and str(path) in errors[0] and "line_of_business" in errors[0]


def test_payer_all_without_line_of_business_still_answers_cigna(tmp_path):
    path = write(tmp_path, "nolob.yaml", NO_LOB)
    r = run("decide", path, "--payer", "all", "--json")
    answers = json.loads(r.stdout)
    assert [(a["payer"], a["decision"], a["pathway"]) for a in answers] == [("cigna", "approve", "1")]
    assert "line_of_business" in r.stderr and str(path) in r.stderr
    assert r.exit_code == 2  # the Centene answer could not be given


def test_request_without_any_payer(tmp_path):
    path = write(tmp_path, "nopayer.yaml", "id: P\nline_of_business: medicaid\n")
    r = run("decide", path, "--json")
    assert r.exit_code == 2
    assert "payer" in r.stderr and str(path) in r.stderr


def test_unknown_payer_option():
    r = run("decide", APPROVE, "--payer", "aetna")
    assert r.exit_code == 2
    assert "aetna" in r.stderr and "--payer" in r.stderr
    assert r.stdout == ""


def test_missing_request_file(tmp_path):
    r = run("decide", tmp_path / "nope.yaml", APPROVE, "--payer", "cigna", "--json")
    assert r.exit_code == 2
    assert "nope.yaml" in r.stderr
    assert len(json.loads(r.stdout)) == 1


def test_broken_kb_dir(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    evil = kb / "evil.dl"
    mark = tmp_path / "pwned"
    evil.write_text(f"+ fine('a')\n__import__('os').system('touch {mark}')\n", encoding="utf-8")
    r = run("decide", APPROVE, "--payer", "centene", "--kb", kb)
    assert r.exit_code == 3
    assert "evil.dl:2: " in r.stderr  # the path is shown relative to the working folder when it can be
    assert r.stdout == ""
    assert not mark.exists()


def test_missing_kb_dir(tmp_path):
    r = run("why", APPROVE, "--payer", "centene", "--kb", tmp_path / "nope")
    assert r.exit_code == 3
    assert "nope" in r.stderr


def test_incomplete_kb_is_exit_3(tmp_path):
    """A kb that parses but lacks the engine layer cannot be loaded either."""
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "only.dl").write_text("+ policy('x', 'X', 'T', '1')\n", encoding="utf-8")
    r = run("decide", APPROVE, "--payer", "x", "--kb", kb)
    assert r.exit_code == 3, (r.exit_code, r.stderr)


# --------------------------------------------------------------------------------------------------------
# why
# --------------------------------------------------------------------------------------------------------


def test_why_prints_the_decision_first():
    r = run("why", DENY, "--payer", "centene")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Q-centene-deny-prior-krazati  centene CP.PHAR.549: DENY"
    assert any("I.A.7" in line and "NOT MET" in line for line in lines)
    assert "To decide, send:" not in r.stdout


def test_why_on_approve_shows_the_tree_with_rules():
    r = run("why", APPROVE, "--payer", "centene")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0].endswith("APPROVE via I.A for 6 months")
    assert "Why approved: pathway I.A is derived" in r.stdout
    assert re.search(r"rests on \S*kb/\S+\.dl:\d+", r.stdout)
    assert "rests on" not in run("why", APPROVE, "--payer", "centene", "--no-rules").stdout


def test_why_on_pend_lists_what_to_send(tmp_path):
    path = write(tmp_path, "pend.yaml", PEND)
    r = run("why", path, "--payer", "centene")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "CLI-pend  centene CP.PHAR.549: PEND"
    assert "To decide, send:" in lines
    send = [line for line in lines[lines.index("To decide, send:") + 1:] if line.strip()]
    # Each item: "- FIELD (for CRITERION, pathway P): words", then its evidence and question as "·" lines.
    assert send and send[0].strip().startswith("- "), send
    assert all(line.strip().startswith(("- ", "· ")) for line in send), send
    items = [line.strip() for line in send if line.strip().startswith("- ")]
    assert items == [
        "- prior_therapies (for I.A.6, pathway I.A): Member has received at least one systemic therapy "
        "(see Appendix B)",
        "- prior_therapies (for I.A.7, pathway I.A): Member has not received prior treatment with Krazati"]
    assert "· Send the prior therapies (prior_therapies)." in [line.strip() for line in send]


def test_why_payer_all_explains_each_payer(tmp_path):
    path = write(tmp_path, "pend.yaml", PEND)
    r = run("why", path, "--payer", "all")
    assert r.exit_code == 0, r.stderr
    heads = [line for line in r.stdout.splitlines() if line.startswith("CLI-pend  ")]
    assert heads == ["CLI-pend  centene CP.PHAR.549: PEND", "CLI-pend  cigna Lumakras PA: PEND"]


def test_why_json_is_the_decide_json():
    why = json.loads(run("why", DENY, "--payer", "centene", "--json").stdout)
    decide = json.loads(run("decide", DENY, "--payer", "centene", "--json").stdout)
    assert why == decide


def test_decide_summary_on_pend_lists_fields(tmp_path):
    path = write(tmp_path, "pend.yaml", PEND)
    r = run("decide", path, "--payer", "centene")
    assert r.exit_code == 0
    assert "    send: " in r.stdout and "prior_therapies" in r.stdout


# --------------------------------------------------------------------------------------------------------
# Help examples exist and run
# --------------------------------------------------------------------------------------------------------


def examples(help_text: str) -> list[list[str]]:
    """Each example's arguments, up to a shell redirection (`> why.html` is the shell's, not the command's)."""
    out = []
    for line in help_text.splitlines():
        line = line.strip()
        if line.startswith("lumakras "):
            words = shlex.split(line)[1:]
            out.append(words[:words.index(">")] if ">" in words else words)
    return out


@pytest.mark.parametrize("command", [["decide"], ["why"], ["compare"], []],
                         ids=["decide", "why", "compare", "lumakras"])
def test_help_examples_exist_and_run(command, monkeypatch):
    r = run(*command, "--help")
    assert r.exit_code == 0
    found = examples(r.stdout)
    assert found, r.stdout
    if command:
        assert all(ex[0] == command[0] for ex in found)
    monkeypatch.chdir(ROOT)
    missing, failed = [], []
    for ex in found:
        args: list[str] = []
        for arg in ex:
            if arg.startswith("queries/"):
                matches = sorted(glob.glob(arg))
                if not matches:
                    missing.append(arg)
                args += matches
            else:
                args.append(arg)
        if not any(a.startswith("queries/") for a in args):
            continue
        result = run(*args)
        if result.exit_code != 0:
            failed.append(f"{' '.join(ex)}: exit {result.exit_code}: {result.stderr.strip()}")
    assert not missing, f"help examples name files that are not in queries/: {missing}"
    assert not failed, "\n".join(failed)
    assert any(a.startswith("queries/") for ex in found for a in ex)


# --------------------------------------------------------------------------------------------------------
# The installed console script
# --------------------------------------------------------------------------------------------------------


def test_console_script_subprocess():
    script = Path(sys.executable).parent / "lumakras"
    assert script.exists(), script
    proc = subprocess.run([str(script), "decide", str(DENY), "--payer", "all", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    answers = json.loads(proc.stdout)
    assert [(a["payer"], a["decision"]) for a in answers] == [("centene", "deny"), ("cigna", "approve")]
    krazati = next(c for c in answers[0]["closest"][0]["criteria"] if c["id"] == "I.A.7")
    assert krazati["status"] == "not_met"
    assert any("Krazati is adagrasib" in b for b in krazati["because"])


def test_console_script_bad_request_exit_2(tmp_path):
    script = Path(sys.executable).parent / "lumakras"
    bad = write(tmp_path, "bad.yaml", "id: X\nrequest_type: renewal\n")
    proc = subprocess.run([str(script), "decide", str(bad), "--payer", "cigna"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"lumakras: {bad}: request_type: must be one of initial, continuation; " \
                                  f"got 'renewal'"


def test_a_folder_of_requests_and_a_payer_in_any_case(tmp_path):
    """decide reads a folder as the request files under it (in order), and --payer Centene is centene."""
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    doc = yaml.safe_load(APPROVE.read_text(encoding="utf-8"))
    (folder / "b.yaml").write_text(yaml.safe_dump({**doc, "id": "B-1"}), encoding="utf-8")
    (folder / "sub" / "a.yaml").write_text(yaml.safe_dump({**doc, "id": "A-1"}), encoding="utf-8")
    (folder / "notes.txt").write_text("not a request", encoding="utf-8")
    r = run("decide", folder, "--payer", "Centene", "--json")
    assert r.exit_code == 0, r.stderr
    answers = json.loads(r.stdout)
    assert [(a["request"][:2], a["payer"]) for a in answers] == [("B-", "centene"), ("A-", "centene")]
    assert run("decide", folder, "--payer", "ALL").stdout.count("\n") >= 4


def test_a_folder_with_no_request_is_reported_not_skipped(tmp_path):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    r = run("decide", empty, APPROVE, "--payer", "centene", "--json")
    assert r.exit_code == 2 and len(json.loads(r.stdout)) == 1
    assert r.stderr.strip() == f"lumakras: {empty}: a folder with no request file (.yaml, .yml or .json) in it"


def test_decide_on_two_processes_prints_what_one_prints(tmp_path):
    """--jobs 2 forks workers over chunks of the files: the same bytes, in the same order, errors and all."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: B\nline_of_business: medicare\nmember: {age: old}\n", encoding="utf-8")
    files = sorted((ROOT / "queries").glob("*.yaml"))
    args = [*files[:20], bad, *files[20:]]  # more than one chunk on each side of the bad file
    outputs = []
    for jobs in ("1", "2"):
        run_ = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", "decide", *map(str, args), "--payer", "all",
                               "--json", "--jobs", jobs], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert run_.returncode == 2
        outputs.append((run_.stdout, run_.stderr))
    assert outputs[0] == outputs[1]
    assert len(json.loads(outputs[0][0])) == 2 * len(files)
    assert len(outputs[0][1].splitlines()) == 2  # both problems of the bad file


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_progress_shows_on_a_terminal_only_when_the_output_goes_elsewhere(tmp_path):
    files = [str(p) for p in sorted((ROOT / "queries").glob("*.yaml"))]
    out = tmp_path / "answers.json"
    done, shown = run_with_terminal_stderr(["decide", *files, "--json", "--payer", "all", "--jobs", "1"], out, 300)
    assert done.returncode == 0
    assert b"deciding" in shown and f"{len(files)}/{len(files)}".encode() in shown
    assert len(json.loads(out.read_text())) == 2 * len(files)  # the answers untouched by the bar
    quiet = run("decide", *files[:3], "--payer", "all")  # not a terminal: no bar
    assert "deciding" not in quiet.stderr


def test_standard_input_among_many_files_is_read_on_two_processes_too():
    files = [str(p) for p in sorted((ROOT / "queries").glob("*.yaml"))][:20]
    done = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", "decide", *files, "-", "--payer", "centene",
                           "--json", "--jobs", "2"], input=APPROVE.read_text(encoding="utf-8"), capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode in (0, 2), done.stderr
    answers = json.loads(done.stdout)
    assert answers[-1]["provenance"]["request_source"] == "-" and answers[-1]["decision"] == "approve"
