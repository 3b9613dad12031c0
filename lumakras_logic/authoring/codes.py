"""The form of a code in each code system the kb's codes use (kb/vocab/codes/), for `lumakras check`.

Each validator takes a code as the kb writes it and returns '' when its form is right, or the reason it is
not (a few words: "check digit", "form"). They check the form only: a code of the right form may still be
no code of the system. The systems are the short ids of the kb's code_system facts (kb/vocab/codes/systems.dl);
a system without a validator here is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Verhoeff's dihedral-group tables (SNOMED CT Technical Implementation Guide, "Check-digit computation").
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_ok(digits: str) -> bool:
    """Whether a string of digits ends in its Verhoeff check digit (SNOMED CT's check digit)."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def luhn_check_digit(digits: str) -> int:
    """The mod-10 check digit LOINC gives a code's number part ('69548' -> 6): from the right, every
    other digit doubled (its digits summed), all added, and the check digit brings the sum to a multiple of
    ten."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


_LOINC = re.compile(r"^(LA|LP|LL)?([0-9]{1,7})-([0-9])$")


def loinc(code: str) -> str:
    """A LOINC code (NNNNN-N, its mod-10 check digit right) or an answer, part or list code (LA..-N,
    LP..-N, LL..-N: their form only; their check digit is not the mod-10 of their digits, LA9633-4)."""
    m = _LOINC.match(code)
    if not m:
        return "form"
    if m.group(1):
        return ""
    return "" if luhn_check_digit(m.group(2)) == int(m.group(3)) else "check digit"


# A concept's partition identifier: the two digits before the check digit. 00: a concept of the
# International Release (short format), 10: a concept of an extension (long format, with a namespace).
_SNOMED_CONCEPT_PARTITIONS = ("00", "10")


def snomed(code: str) -> str:
    """A SNOMED CT concept id: 6 to 18 digits, no leading zero, a concept's partition identifier, and
    its Verhoeff check digit."""
    if not re.fullmatch(r"[1-9][0-9]{5,17}", code):
        return "form"
    if code[-3:-1] not in _SNOMED_CONCEPT_PARTITIONS:
        return "partition identifier"
    return "" if verhoeff_ok(code) else "check digit"


def nucc(code: str) -> str:
    """A Health Care Provider Taxonomy code: 10 characters, digits and capitals, the last 'X'."""
    return "" if re.fullmatch(r"[0-9]{3}[0-9A-Z]{6}X", code) else "form"


def rxnorm(code: str) -> str:
    """An RxNorm concept id (RXCUI): digits, no leading zero."""
    return "" if re.fullmatch(r"[1-9][0-9]{0,8}", code) else "form"


def icd10cm(code: str) -> str:
    """An ICD-10-CM code as kb/vocab/icd10cm.dl writes it: a letter, two characters, then a dot and up to
    four more ('C34', 'C34.9', 'C7A.01'), as the loader reads codes (ValueNames)."""
    return "" if re.fullmatch(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?", code) else "form"


def sopt(code: str) -> str:
    """A Source of Payment Typology code: 1 to 5 digits, the first its payer category (1-9)."""
    return "" if re.fullmatch(r"[1-9][0-9]{0,4}", code) else "form"


def hgnc(code: str) -> str:
    """An HGNC gene id as mCODE and Genomics Reporting write it: 'HGNC:' and digits."""
    return "" if re.fullmatch(r"HGNC:[1-9][0-9]*", code) else "form"


def fda_cdx(code: str) -> str:
    """An FDA premarket approval (PMA) number: 'P' and six digits (no supplement)."""
    return "" if re.fullmatch(r"P[0-9]{6}", code) else "form"


VALIDATORS: dict[str, tuple[str, Callable[[str], str]]] = {
    "snomed": ("SNOMED CT id", snomed),
    "loinc": ("LOINC code", loinc),
    "rxnorm": ("RxNorm concept id", rxnorm),
    "nucc": ("NUCC provider taxonomy code", nucc),
    "icd10cm": ("ICD-10-CM code", icd10cm),
    "sopt": ("Source of Payment Typology code", sopt),
    "hgnc": ("HGNC gene id", hgnc),
    "fda_cdx": ("FDA PMA number", fda_cdx),
}


def problem(system: str, code: object) -> str:
    """The problem with a code of a system, in check's words ('' when none, or the system is not checked)."""
    if system not in VALIDATORS:
        return ""
    what, check = VALIDATORS[system]
    if not isinstance(code, str):
        return f"{code!r} is not a valid {what} (a code is written as text)"
    why = check(code)
    return f"{code!r} is not a valid {what} ({why})" if why else ""
