"""`decide --format csv`: one row per request and payer, each agreeing with the JSON answer; a row for each
error too (still on stderr, exit 2); cells on one line and never a spreadsheet formula; the same bytes on any
number of processes."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT, invoke

from lumakras_logic.cli import main
from lumakras_logic.core.csv_out import COLUMNS, CsvRows, cell
from lumakras_logic.core.escape import one_line
from lumakras_logic.core.request import request_files

QUERIES = ROOT / "queries"
APPROVE = QUERIES / "centene-approve-nsclc-I.A.yaml"
DENY = QUERIES / "centene-deny-prior-krazati.yaml"


def documented_columns() -> list[str]:
    """The columns the table of docs/answers.md, "CSV for batches", lists, in order."""
    section = (ROOT / "docs" / "answers.md").read_text(encoding="utf-8").split("## CSV for batches", 1)[1]
    return re.findall(r"^\| `(\w+)` \|", section.split("\n## ", 1)[0], flags=re.M)


DOCUMENTED = documented_columns()
BAD = "id: B\nline_of_business: medicare\nmember: {age: old}\n"  # two problems
NO_LOB = """\
id: CSV-no-lob
date: 2026-03-01
member: {age: 64}
diagnosis: {condition: nsclc, disease_state: [metastatic], kras_g12c: positive, kras_test: fda_approved}
prior_therapies: [carboplatin]
"""


def table(text: str) -> list[dict[str, str]]:
    """The rows read back with csv.reader, as dicts; every row has the header's number of cells."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == DOCUMENTED
    assert all(len(r) == len(DOCUMENTED) for r in rows), [r for r in rows if len(r) != len(DOCUMENTED)]
    return [dict(zip(DOCUMENTED, r, strict=True)) for r in rows[1:]]


def decide(*args: str | Path, fmt: str = "csv"):
    return invoke("decide", *args, "--format", fmt, "--jobs", "1")


def with_id(tmp_path: Path, request_id: str, name: str = "odd.yaml") -> Path:
    """A copy of an example request under another id."""
    doc = yaml.safe_load(APPROVE.read_text(encoding="utf-8"))
    path = tmp_path / name
    path.write_text(yaml.safe_dump({**doc, "id": request_id}, allow_unicode=False), encoding="utf-8")
    return path


def test_the_header_is_the_documented_columns_and_comes_alone_without_answers():
    assert list(COLUMNS) == DOCUMENTED and len(DOCUMENTED) == 14
    out = io.StringIO()
    CsvRows(out.write)
    assert out.getvalue() == ",".join(DOCUMENTED) + "\n"


def test_every_request_and_payer_of_the_examples_is_a_row_that_agrees_with_its_json_answer(decider):
    r = decide(QUERIES, "--payer", "all")
    assert r.exit_code == 0, r.stderr
    rows = table(r.stdout)
    j = decide(QUERIES, "--payer", "all", fmt="json")
    assert j.exit_code == 0, j.stderr
    answers = json.loads(j.stdout)
    files, payers = request_files([QUERIES]), list(decider.kb.payers())
    assert len(rows) == len(files) * len(payers) == len(answers)
    assert [(row["source"], row["payer"]) for row in rows] == [(str(f), p) for f in files for p in payers]
    assert not any(row["error"] for row in rows)
    assert {row["decision"] for row in rows} == {"approve", "refer", "pend", "deny"}  # every kind is checked
    for row, a in zip(rows, answers, strict=True):
        assert (row["request"], row["payer"], row["policy"], row["decision"]) == \
            (a["request"], a["payer"], a["policy"], a["decision"])
        assert row["source"] == a["provenance"]["request_source"]
        assert row["kb_digest"] == a["provenance"]["kb_digest"]
        assert row["approval_months"] == ("" if a["approval_months"] is None else str(a["approval_months"]))
        assert row["refer_to"] == (a["refer_to"] or "")
        if a["decision"] in ("approve", "refer"):
            assert row["pathway"] == a["pathway"] and not row["nearest_pathway"]
            assert not (row["not_met"] or row["not_documented"] or row["to_document"])
        else:
            near = a["closest"][0]
            assert not row["pathway"] and row["nearest_pathway"] == near["pathway"]
            for status in ("not_met", "not_documented"):
                assert (row[status].split("; ") if row[status] else []) == \
                    [c["id"] for c in near["criteria"] if c["status"] == status]
            fields = sorted({t["field"] for t in a["to_document"]}) if a["decision"] == "pend" else []
            assert (row["to_document"].split("; ") if row["to_document"] else []) == fields
            if a["decision"] == "pend":
                assert fields
    for line in r.stdout.splitlines()[1:]:  # a number is written as a number, unquoted
        months = next(csv.reader([line]))[DOCUMENTED.index("approval_months")]
        assert months == "" or (months.isdigit() and f",{months}," in line)


def test_a_bad_file_is_a_row_per_problem_and_a_line_on_stderr_and_the_others_are_answered(tmp_path, decider):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    r = decide(APPROVE, bad, DENY, "--payer", "all")
    assert r.exit_code == 2
    rows = table(r.stdout)
    errors = [row for row in rows if row["error"]]
    stderr = r.stderr.strip().splitlines()
    assert len(stderr) == len(errors) == 2  # both problems of the file
    assert [f"lumakras: {row['error']}" for row in errors] == stderr
    assert all(row["source"] == str(bad) and not (row["request"] or row["payer"] or row["decision"])
               for row in errors)
    payers = list(decider.kb.payers())
    answered = [(row["source"], row["payer"]) for row in rows if not row["error"]]
    assert answered == [(str(f), p) for f in (APPROVE, DENY) for p in payers]
    assert all(row["decision"] for row in rows if not row["error"])


def test_a_payer_that_cannot_read_the_request_is_a_row_with_the_request_and_payer(tmp_path):
    path = tmp_path / "nolob.yaml"
    path.write_text(NO_LOB, encoding="utf-8")
    r = decide(path, "--payer", "all")
    assert r.exit_code == 2
    rows = table(r.stdout)
    j = decide(path, "--payer", "all", fmt="json")
    answered = {a["payer"] for a in json.loads(j.stdout)}
    (error,) = [row for row in rows if row["error"]]
    assert error["payer"] and error["payer"] not in answered
    assert error["request"] == "CSV-no-lob" and "line_of_business" in error["error"] and not error["decision"]
    assert r.stderr.strip() == f"lumakras: {error['error']}"
    assert {row["payer"] for row in rows if not row["error"]} == answered and answered


@pytest.mark.parametrize("request_id", ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "=1,2"])
def test_a_cell_that_a_spreadsheet_would_run_as_a_formula_is_quoted_with_an_apostrophe(tmp_path, request_id):
    r = decide(with_id(tmp_path, request_id), "--payer", "centene")
    assert r.exit_code == 0, r.stderr
    (row,) = table(r.stdout)
    assert row["request"] == "'" + request_id
    assert row["decision"]  # the request is decided as any other


def test_standard_input_is_guarded_too():
    r = CliRunner().invoke(main, ["decide", "-", "--payer", "centene", "--format", "csv"],
                           input=APPROVE.read_text(encoding="utf-8"))
    assert r.exit_code == 0, r.stderr
    (row,) = table(r.stdout)
    assert row["source"] == "'-"


def test_a_control_character_in_a_request_id_is_escaped_and_a_row_stays_one_line(tmp_path):
    request_id = "A\nAPPROVE\x1b[2J\u202eB\tC\r"
    r = decide(with_id(tmp_path, request_id), "--payer", "all")
    assert r.exit_code == 0, r.stderr
    rows = table(r.stdout)
    assert [row["request"] for row in rows] == [one_line(request_id)] * len(rows)
    assert len(r.stdout.splitlines()) == len(rows) + 1
    assert not any(ch in r.stdout for ch in "\x1b\u202e\t\r")


def test_cells_numbers_stay_numbers_and_escaped_tabs_begin_no_formula():
    assert cell(None) == "" and cell(6) == 6 and cell("I.A") == "I.A"
    assert cell("\t=1") == "\\t=1" and cell("\r=1") == "\\r=1"  # escaped first: a backslash begins the cell
    assert cell("-") == "'-"


def test_csv_is_for_decide_only_and_json_with_it_is_a_conflict():
    r = invoke("decide", APPROVE, "--payer", "centene", "--format", "csv", "--json")
    assert r.exit_code == 2 and "--json and --format csv" in r.stderr and r.stdout == ""
    r = invoke("why", APPROVE, "--payer", "centene", "--format", "csv")
    assert r.exit_code == 2 and r.stdout == ""


def test_two_processes_write_the_bytes_one_writes(tmp_path, decider):
    """In the files' order, errors and all, over more than one chunk on each side of the bad file."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    files = sorted(QUERIES.glob("*.yaml"))
    args = [*files[:20], bad, *files[20:]]
    outputs = []
    for jobs in ("1", "2"):
        done = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", "decide", *map(str, args), "--payer",
                               "all", "--format", "csv", "--jobs", jobs], capture_output=True, cwd=ROOT, timeout=300)
        assert done.returncode == 2, done.stderr
        outputs.append((done.stdout, done.stderr))
    assert outputs[0] == outputs[1]
    rows = table(outputs[0][0].decode("utf-8"))
    assert [row["source"] for row in rows if row["error"]] == [str(bad)] * 2
    assert len(rows) == len(decider.kb.payers()) * len(files) + 2
