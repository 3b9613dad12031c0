"""A small seeded run of the input fuzzer (bench/fuzz.py): mutated example requests, in batches, each batch
held to the CLI's contract (exit 0 or 2, no traceback, one short line per error naming its file, nothing
lost). The full run (5,000 mutants and more) is `python bench/fuzz.py`."""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from fuzz import fuzz  # noqa: E402

pytestmark = pytest.mark.slow  # hundreds of mutants through the CLI


def test_a_seeded_batch_of_mutants_keeps_the_contract() -> None:
    n, failures = fuzz(200, seed=11, batch=100)
    assert n == 200
    assert [f.why for f in failures] == []


def test_the_same_kind_of_mutants_keep_the_contract_through_compare_and_impact() -> None:
    for command in ("compare", "impact"):
        n, failures = fuzz(100, seed=13, batch=100, command=command)
        assert (command, [f.why for f in failures]) == (command, [])
