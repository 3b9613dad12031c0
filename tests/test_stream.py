"""Streamed output (lumakras_logic/core/stream.py) is exactly the JSON the tool would print at once, and a Spill
gives back what it was given, in order."""

from __future__ import annotations

import json
from typing import Any

from conftest import ROOT, invoke
from hypothesis import given
from hypothesis import strategies as st

from lumakras_logic.core.escape import json_safe
from lumakras_logic.core.stream import JsonArray, JsonObject, Spill, dumps

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12)


def at_once(value: Any) -> str:
    return json_safe(json.dumps(value, indent=2, ensure_ascii=False)) + "\n"


@given(st.lists(VALUES, max_size=4))
def test_a_streamed_array_is_the_array_dumped_at_once(values: list[Any]) -> None:
    out: list[str] = []
    array = JsonArray(out.append)
    for v in values:
        array.add(v)
    array.close(empty="[]")
    assert "".join(out) == at_once(values)


@given(st.dictionaries(st.sampled_from(["a", "b", "c\u202e", "d"]), VALUES, max_size=4),
       st.lists(VALUES, max_size=4))
def test_a_streamed_object_with_a_streamed_array_is_the_object_dumped_at_once(
        fields: dict[str, Any], items: list[Any]) -> None:
    out: list[str] = []
    body = JsonObject(out.append)
    for key, value in fields.items():
        body.field(key, value)
    array = body.array("items")
    for item in items:
        array.add(item)
    array.close()
    body.field("after", {"n": len(items)})
    body.close()
    assert "".join(out) == at_once({**fields, "items": items, "after": {"n": len(items)}})


def test_an_empty_object_and_control_characters() -> None:
    out: list[str] = []
    JsonObject(out.append).close()
    assert "".join(out) == "{}\n"
    out.clear()
    array = JsonArray(out.append)
    array.add({"id": "A\x1b[2J\u202eB"})
    array.close()
    text = "".join(out)
    assert "\x1b" not in text and "\u202e" not in text and json.loads(text) == [{"id": "A\x1b[2J\u202eB"}]


def test_a_spill_gives_back_its_records_in_order_and_nothing_when_empty() -> None:
    with Spill() as spill:
        assert list(spill) == []
        records = [{"case": f"c{i}", "line": "x\ny"} for i in range(1000)]
        for r in records:
            spill.add(r)
        assert spill.count == 1000 and list(spill) == records


ANY_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(["\x7f\x85\u2028\u202e", "\ud800", "a: 1.5", "é😀", "\x00\x1f\t\n\"\\"]),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4) | st.integers() | st.booleans(), inner, max_size=3),
    max_leaves=12)


@given(ANY_VALUES)
def test_dumps_writes_what_json_dumps_writes(value: Any) -> None:
    """orjson writes where it agrees with json, json elsewhere (floats, big integers, keys that are not
    strings, text that is not valid Unicode): the text is json's in every case."""
    assert dumps(value) == json_safe(json.dumps(value, indent=2, ensure_ascii=False))


def test_dumps_writes_every_example_answer_as_json_does() -> None:
    result = invoke("decide", "--json", "--payer", "all", "--jobs", "1", ROOT / "queries")
    answers = json.loads(result.output)
    assert len(answers) > 40
    for answer in answers:
        assert dumps(answer) == json_safe(json.dumps(answer, indent=2, ensure_ascii=False))
