"""Splitting a drug-list entry (names.split_entry; DECISIONS.md reading 16): generic, bounded, sound."""

from __future__ import annotations

import time

import pytest

from lumakras_logic.core.names import MAX_PARTS, split_entry
from lumakras_logic.core.request import name_key


def knows(*names: str):
    """A `known` callable over name keys, as the kb's known_names is."""
    keys = {name_key(n) for n in names}
    return lambda key: key in keys


NOTHING = knows()


def test_slash_splits_when_neither_whole_is_known():
    assert split_entry("adagrasib/cetuximab", NOTHING) == ["adagrasib", "cetuximab"]


def test_brand_with_generic_in_parentheses():
    assert split_entry("Krazati (adagrasib)", NOTHING) == ["Krazati", "adagrasib"]


def test_comma_gives_two():
    assert split_entry("carboplatin, pemetrexed", NOTHING) == ["carboplatin", "pemetrexed"]


def test_a_known_whole_is_never_split():
    assert split_entry("capecitabine + oxaliplatin", knows("capecitabine + oxaliplatin")) == \
        ["capecitabine + oxaliplatin"]
    assert split_entry("capecitabine + oxaliplatin", NOTHING) == ["capecitabine", "oxaliplatin"]


def test_the_whole_is_matched_by_its_name_key():
    assert split_entry("  Trifluridine/Tipiracil ", knows("trifluridine/tipiracil")) == ["Trifluridine/Tipiracil"]


def test_a_known_piece_is_kept_whole_after_the_first_split():
    assert split_entry("FOLFOX + trifluridine/tipiracil", knows("trifluridine/tipiracil")) == \
        ["FOLFOX", "trifluridine/tipiracil"]
    assert split_entry("FOLFOX + trifluridine/tipiracil", NOTHING) == ["FOLFOX", "trifluridine", "tipiracil"]


@pytest.mark.parametrize("text", ["FOLFOX and bevacizumab", "FOLFOX AND bevacizumab", "FOLFOX & bevacizumab",
                                  "FOLFOX&bevacizumab", "FOLFOX with bevacizumab", "FOLFOX plus bevacizumab",
                                  "FOLFOX+bevacizumab", "FOLFOX; bevacizumab", "FOLFOX\tand  bevacizumab"])
def test_word_and_sign_separators(text):
    assert split_entry(text, NOTHING) == ["FOLFOX", "bevacizumab"]


def test_a_word_inside_a_name_is_no_separator():
    assert split_entry("Sandostatin", NOTHING) == ["Sandostatin"]
    assert split_entry("withaferin", NOTHING) == ["withaferin"]


def test_separators_keep_their_order_of_precedence():
    # ',' before ' + ': each comma piece is then split on '+'
    assert split_entry("a + b, c", NOTHING) == ["a", "b", "c"]
    assert split_entry("a + b, c", knows("a + b")) == ["a + b", "c"]
    # ';' before ','
    assert split_entry("a, b; c", knows("a, b")) == ["a, b", "c"]


def test_separators_inside_parentheses_wait_for_the_parentheses():
    assert split_entry("FOLFOX (5-FU, leucovorin, oxaliplatin)", NOTHING) == \
        ["FOLFOX", "5-FU", "leucovorin", "oxaliplatin"]
    assert split_entry("Krazati (adagrasib), Erbitux (cetuximab)", NOTHING) == \
        ["Krazati", "adagrasib", "Erbitux", "cetuximab"]


def test_nested_parentheses():
    assert split_entry("A (B (C, D)) E", NOTHING) == ["A", "B", "C", "D", "E"]
    assert split_entry("Lonsurf (TAS-102 (trifluridine/tipiracil))", knows("trifluridine/tipiracil")) == \
        ["Lonsurf", "TAS-102", "trifluridine/tipiracil"]


def test_a_separator_outside_parentheses_comes_before_them():
    """The design's order: separators first. The pieces are still each resolved, so nothing is lost."""
    assert split_entry("trifluridine/tipiracil (TAS-102)", knows("trifluridine/tipiracil")) == \
        ["trifluridine", "tipiracil", "TAS-102"]


def test_unbalanced_parentheses_do_not_fail():
    assert split_entry("Krazati (adagrasib", NOTHING) == ["Krazati", "adagrasib"]
    assert split_entry("adagrasib)", NOTHING) == ["adagrasib)"]


def test_hyphen_is_no_separator():
    assert split_entry("5-FU", NOTHING) == ["5-FU"]
    assert split_entry("ziv-aflibercept", NOTHING) == ["ziv-aflibercept"]


@pytest.mark.parametrize("text, parts", [
    ("a,,b", ["a", "b"]),
    ("a +", ["a"]),
    ("+ a", ["a"]),
    (", a ,", ["a"]),
    ("a () ", ["a"]),
])
def test_empty_pieces_are_dropped(text, parts):
    assert split_entry(text, NOTHING) == parts


@pytest.mark.parametrize("text", [",", ",,,", " / ", "+", "()", "(,)", "; ,"])
def test_separators_alone_return_the_text(text):
    assert split_entry(text, NOTHING) == [text.strip()]


def test_whitespace_is_stripped_and_the_spelling_kept():
    assert split_entry("  Krazati   /  ERBITUX  ", NOTHING) == ["Krazati", "ERBITUX"]
    assert split_entry("  Keytruda  ", NOTHING) == ["Keytruda"]


def test_duplicates_by_name_key_are_dropped_in_order():
    assert split_entry("Keytruda, carboplatin, KEYTRUDA, keytruda ", NOTHING) == ["Keytruda", "carboplatin"]


def test_known_receives_name_keys():
    asked: list[str] = []

    def known(key: str) -> bool:
        asked.append(key)
        return False

    split_entry("  Krazati   (Adagrasib) ", known)
    assert asked and all(key == name_key(key) for key in asked)
    assert "krazati (adagrasib)" in asked and "krazati" in asked and "adagrasib" in asked


def test_a_long_entry_returns_quickly():
    entries = ["a/b + c and d (e, f (g; h with i)) " * 280,
               ", ".join(f"drug{i}" for i in range(2000))[:10_000],
               "(" * 5000 + "x" + ")" * 5000,
               "a" * 10_000,
               "/" * 10_000,
               "a (" * 3333]
    for text in entries:
        start = time.perf_counter()
        parts = split_entry(text, NOTHING)
        assert time.perf_counter() - start < 1.0, text[:40]
        assert parts and all(p.strip() for p in parts)


def test_too_many_parts_leave_the_entry_whole():
    """Dropping parts would claim the entry lacks them; the whole, unknown, may be anything (sound)."""
    text = ", ".join(f"drug{i}" for i in range(MAX_PARTS + 1))
    assert split_entry(text, NOTHING) == [text]
    fits = ", ".join(f"drug{i}" for i in range(MAX_PARTS))
    assert len(split_entry(fits, NOTHING)) == MAX_PARTS
