"""A third payer added without any Python change: the made-up Acme Health policy ACME-77.

tests/fixtures/acme/ holds the policy text, its Datalog (kb/acme.dl, written from docs/authoring.md only),
example requests and test cases as data. These tests run it through the CLI beside the shipped kb:
`check`, `decide`, `why`, `rules`, `test`, `decide --payer all`, and show that the shipped kb alone does not
know acme and that no file of the package names it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, invoke

KB = ROOT / "kb"
ACME = ROOT / "tests" / "fixtures" / "acme"
ACME_KB = ACME / "kb"
REQUESTS = ACME / "requests"
CASES = ACME / "cases"
WITH_ACME = ("--kb", KB, "--kb", ACME_KB)

# request file -> (decision, pathway, approval_months)
EXPECTED = {
    "acme-approve-nsclc.yaml": ("approve", "1", 6),
    "acme-approve-crc-commercial.yaml": ("approve", "2", 12),
    "acme-deny-crc-no-partner.yaml": ("deny", None, None),
    "acme-pend-nsclc-no-prior.yaml": ("pend", None, None),
}

ACME_CRITERIA = ("1.A", "1.B", "1.B.condition", "1.B.state", "1.B.kras", "1.C", "1.D", "1.D.specialty",
                 "1.D.consulted", "2.A", "2.B", "2.B.condition", "2.B.kras", "2.C", "2.C.vectibix",
                 "2.C.vectibix.partner", "2.C.vectibix.regimen", "2.C.erbitux", "2.C.erbitux.partner",
                 "2.C.erbitux.regimen", "2.D")
# The nodes of "CONDITIONS NOT COVERED" (otherwise_when): part of no pathway.
ACME_OTHERWISE = ("other_use", "listed_use")




def run(*args: str | Path):
    return invoke(*args)


def test_the_fixture_is_complete():
    assert (ACME / "policy.txt").is_file()
    assert (ACME_KB / "acme.dl").is_file()
    assert sorted(p.name for p in REQUESTS.glob("*.yaml")) == sorted(EXPECTED)
    assert (CASES / "acme.yaml").is_file()


def test_check_finds_no_problem_in_kb_and_acme():
    result = run("check", KB, ACME_KB)
    assert result.exit_code == 0, result.output
    assert "no problems" in result.stdout
    assert "acme ACME-77: 2 pathways" in result.stdout


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_decide_json_under_acme(name: str):
    decision, pathway, months = EXPECTED[name]
    result = run("decide", REQUESTS / name, *WITH_ACME, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["payer"] == "acme"
    assert answer["policy"] == "ACME-77"
    assert (answer["decision"], answer["pathway"], answer["approval_months"]) == (decision, pathway, months)
    provenance = answer["provenance"]
    assert provenance["policy"] == "ACME-77"
    assert provenance["revision"] == "01/15/2026"
    # kb_files names each file relative to the parent of its --kb folder: the fixture's is "kb/acme.dl"
    assert any(Path(f).name == "acme.dl" for f in provenance["kb_files"]), provenance["kb_files"]
    assert not any("payers/cigna" in f or "payers/centene" in f for f in provenance["kb_files"])


def test_decide_pend_names_what_to_send():
    result = run("decide", REQUESTS / "acme-pend-nsclc-no-prior.yaml", *WITH_ACME, "--json")
    answer = json.loads(result.stdout)
    assert [(d["pathway"], d["criterion"], d["field"]) for d in answer["to_document"]] == [
        ("1", "1.C", "prior_therapies")]


def test_duration_depends_on_line_of_business(tmp_path: Path):
    text = (REQUESTS / "acme-approve-crc-commercial.yaml").read_text(encoding="utf-8")
    medicaid = tmp_path / "medicaid.yaml"
    medicaid.write_text(text.replace("line_of_business: commercial", "line_of_business: medicaid"),
                        encoding="utf-8")
    answer = json.loads(run("decide", medicaid, *WITH_ACME, "--json").stdout)
    assert (answer["decision"], answer["pathway"], answer["approval_months"]) == ("approve", "2", 3)


def test_acme_requires_line_of_business(tmp_path: Path):
    text = (REQUESTS / "acme-approve-nsclc.yaml").read_text(encoding="utf-8")
    request = tmp_path / "no-lob.yaml"
    request.write_text(text.replace("line_of_business: medicaid\n", ""), encoding="utf-8")
    result = run("decide", request, *WITH_ACME)
    assert result.exit_code == 2
    assert "line_of_business" in result.stderr
    assert "ACME-77" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_why_on_approve_shows_acme_criteria_with_policy_words_and_citations():
    result = run("why", REQUESTS / "acme-approve-crc-commercial.yaml", *WITH_ACME)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ACME-0002  acme ACME-77: APPROVE" in out
    assert "ACME-77, revision 01/15/2026" in out
    for line in ("2.A: Patient is 18 years of age or older  [ACME-77 2.A]",
                 "2.B: Patient has KRAS G12C mutation-positive colorectal cancer  [ACME-77 2.B]",
                 "2.C: The medication is used in combination with Vectibix (panitumumab) or Erbitux (cetuximab)"
                 "  [ACME-77 2.C]",
                 "2.C.vectibix: In combination with Vectibix (panitumumab)  [ACME-77 2.C]",
                 "2.D: Patient has previously received chemotherapy  [ACME-77 2.D]"):
        assert line in out, line
    assert "tests/fixtures/acme/kb/acme.dl:" in out


def test_why_on_deny_shows_the_nearest_pathway_and_each_with_all():
    result = run("why", REQUESTS / "acme-deny-crc-no-partner.yaml", *WITH_ACME)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ACME-0003  acme ACME-77: DENY" in out
    assert "Pathway 2: Colorectal Cancer" in out
    assert re.search(r"NOT MET\s+2\.C: The medication is used in combination with Vectibix", out)
    assert "prescribed with sotorasib: none is panitumumab" in out
    # Pathway 1 is for another diagnosis: folded unless --all.
    assert "Pathway 1: Non-Small Cell Lung Cancer (NSCLC)" not in out
    assert "1 pathway for another diagnosis folded (--all)" in out
    assert "Pathway 1: Non-Small Cell Lung Cancer (NSCLC)" in run(
        "why", REQUESTS / "acme-deny-crc-no-partner.yaml", *WITH_ACME, "--all").stdout
    # A listed use denied on a criterion: the "not covered" sentence is not its ground (otherwise_when).
    assert "Otherwise:" not in out


def test_why_on_a_use_not_listed_shows_the_not_covered_sentence(tmp_path: Path):
    request = tmp_path / "other.yaml"
    request.write_text((REQUESTS / "acme-deny-crc-no-partner.yaml").read_text(encoding="utf-8")
                       .replace("condition: colorectal", "condition: gastric cancer"), encoding="utf-8")
    result = run("why", request, *WITH_ACME)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "acme ACME-77: DENY" in out.splitlines()[0]
    assert "Otherwise: Lumakras is considered experimental, investigational or unproven for any use not listed " \
           "above, and is not covered  [ACME-77 Conditions Not Covered]" in out
    answer = json.loads(run("decide", request, *WITH_ACME, "--json").stdout)
    assert [(o["cite"], o["because"]) for o in answer["otherwise"]] == \
        [("ACME-77 Conditions Not Covered", ["other_use"])]


def test_rules_lists_acme_pathways_and_criteria():
    result = run("rules", *WITH_ACME, "--payer", "acme")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "acme  ACME-77" in out and "(revision 01/15/2026)" in out
    assert "Pathway 1: approve" in out and "Pathway 2: approve" in out
    assert "any line of business: 6 months" in out
    assert "commercial: 12 months" in out and "medicaid: 3 months" in out
    for criterion in ACME_CRITERIA:
        assert re.search(rf"^\s+{re.escape(criterion)}\b.*\[ACME-77 ", out, re.M), criterion
    assert "centene" not in out and "cigna" not in out


def test_acme_cases_pass():
    result = run("test", *WITH_ACME, CASES)
    assert result.exit_code == 0, result.output
    assert re.search(r"(\d+) cases in 1 files: \1 passed, 0 failed", result.stdout), result.stdout


@pytest.mark.slow
def test_acme_cases_cover_every_status_the_policy_allows():
    result = run("test", *WITH_ACME, CASES, "--coverage", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed"] == [] and report["malformed"] == []
    rows = [row for row in report["coverage"] if row["payer"] == "acme"]
    assert {row["criterion"] for row in rows} == {"1", "2", *ACME_CRITERIA, *ACME_OTHERWISE}
    assert [row for row in rows if row["gaps"]] == []
    # the text report says it too
    text = run("test", *WITH_ACME, CASES, "--coverage").stdout
    acme_block = text.split("\n\n")[[i for i, b in enumerate(text.split("\n\n")) if "acme:" in b][0]]
    assert "acme: 75 of 75 statuses the policy allows are driven by the cases" in acme_block
    assert "no gaps" in acme_block and "✘" not in acme_block


def test_decide_payer_all_answers_under_three_payers():
    result = run("decide", *sorted(REQUESTS.glob("*.yaml")), *WITH_ACME, "--payer", "all", "--json")
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    by_request: dict[str, set[str]] = {}
    for answer in answers:
        by_request.setdefault(answer["request"], set()).add(answer["payer"])
    assert by_request == {f"ACME-000{i}": {"acme", "centene", "cigna"} for i in range(1, 5)}
    acme = {a["request"]: (a["decision"], a["pathway"], a["approval_months"]) for a in answers
            if a["payer"] == "acme"}
    assert acme == {"ACME-0001": ("approve", "1", 6), "ACME-0002": ("approve", "2", 12),
                    "ACME-0003": ("deny", None, None), "ACME-0004": ("pend", None, None)}


def test_shipped_kb_alone_does_not_know_acme():
    result = run("decide", REQUESTS / "acme-approve-nsclc.yaml")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "payer" in lines[0] and "'acme'" in lines[0]
    assert result.stdout == ""


def test_shipped_kb_alone_refuses_payer_acme_option():
    result = run("decide", REQUESTS / "acme-approve-nsclc.yaml", "--payer", "acme")
    assert result.exit_code == 2
    assert "unknown payer 'acme'" in result.stderr


def test_no_python_mentions_acme():
    """The proof that no Python changed: the package's sources never name the fixture's payer."""
    package = ROOT / "lumakras_logic"
    sources = [p for p in package.rglob("*") if p.is_file() and p.suffix in (".py", ".pyi", ".txt", ".toml",
                                                                               ".cfg", ".json", ".yaml")]
    assert sources, "no package sources found"
    mentioning = [str(p.relative_to(ROOT)) for p in sources
                  if "acme" in p.read_text(encoding="utf-8", errors="replace").lower()]
    assert mentioning == []
