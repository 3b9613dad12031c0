"""The code-form validators of `lumakras check` (lumakras_logic/authoring/codes.py) and the codes the kb ships."""

from __future__ import annotations

import pytest

from lumakras_logic.authoring import codes


@pytest.mark.parametrize("code", ["254637007", "254632001", "128462008", "1222837003", "268910001", "35917007"])
def test_snomed_ids_of_the_sources_pass(code: str) -> None:
    assert codes.snomed(code) == ""


@pytest.mark.parametrize(("code", "why"), [
    ("254637008", "check digit"),     # last digit mistyped
    ("1222594001", "check digit"),    # an id a public example gives for stage IIIB: no SNOMED CT id
    ("3254632001", "check digit"),    # 254632001 with a stray digit in front
    ("254637017", "partition identifier"),  # a description id's partition (01), not a concept's
    ("12345", "form"),
    ("0254637007", "form"),
])
def test_snomed_ids_that_are_wrong(code: str, why: str) -> None:
    assert codes.snomed(code) == why


def test_loinc_mod10_check_digit() -> None:
    assert codes.luhn_check_digit("69548") == 6
    assert codes.luhn_check_digit("12345") == 5  # LOINC's own worked example
    for code in ["69548-6", "21908-9", "21902-2", "97509-4", "48018-6", "48005-3", "LA9633-4", "LA9634-2"]:
        assert codes.loinc(code) == "", code
    assert codes.loinc("69548-7") == "check digit"
    assert codes.loinc("69548") == "form"


def test_other_systems() -> None:
    assert codes.nucc("207RX0202X") == "" and codes.nucc("207RX0202") == "form" and codes.nucc("207rx0202x") == "form"
    assert codes.rxnorm("40048") == "" and codes.rxnorm("4004A") == "form"
    assert codes.icd10cm("C34.90") == "" and codes.icd10cm("C34") == "" and codes.icd10cm("c34.9") == "form"
    assert codes.sopt("511") == "" and codes.sopt("0") == "form"
    assert codes.hgnc("HGNC:6407") == "" and codes.hgnc("6407") == "form"
    assert codes.fda_cdx("P110027") == "" and codes.fda_cdx("P110027/S012") == "form"


def test_problem_words_and_unchecked_systems() -> None:
    assert codes.problem("snomed", "254637008") == "'254637008' is not a valid SNOMED CT id (check digit)"
    assert codes.problem("hgvs", "p.Gly12Cys") == ""  # no validator: not checked
    assert "written as text" in codes.problem("rxnorm", 40048)
