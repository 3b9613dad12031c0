"""The golden answers (tests/test_answer.py holds today's answers to them): for every example request of
queries/, the text `lumakras decide --json --payer all FILE` prints (tests/fixtures/answers/NAME.json); for
every request written inline in the policy cases, under every payer, the sha256 of its answer's JSON
(tests/fixtures/answers/cases.sha256), which pins it as exactly, key order and all, in a few bytes.

They were first written by the code before the answer was typed (issue 12), so that the typed answer is
held to the very JSON the untyped one gave. A kb change changes them too (a rule's file:line, a digest, a
sentence): look at the diff of the goldens, and if it is what the change meant, write them again:

    python tests/golden_answers.py
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lumakras_logic.authoring.cases import load_cases
from lumakras_logic.core.api import Decider
from lumakras_logic.core.request import RequestError
from lumakras_logic.core.stream import dumps

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "fixtures" / "answers"
CASE_DIGESTS = GOLDEN / "cases.sha256"
TODAY = dt.date(2026, 6, 1)  # conftest.TODAY: the day requests without a date are decided as of


def examples() -> list[Path]:
    """The example requests, relative to the repository's root (as `decide` is given them there): those of
    queries/ and of its folders (queries/fhir/), in the order decide takes a folder's files."""
    from lumakras_logic.core.request import request_files

    return [p.relative_to(ROOT) for p in request_files([ROOT / "queries"])]


def golden_of(example: Path) -> Path:
    """queries/x.yaml's golden is x.yaml.json; queries/fhir/x.json's fhir--x.json.json."""
    inside = example.parent.name if example.parent.name != "queries" else ""
    return GOLDEN / (f"{inside}--{example.name}.json" if inside else f"{example.name}.json")


def decide_json(decider: Decider, example: Path) -> str:
    """What `lumakras decide --json --payer all EXAMPLE` prints, run from the repository's root."""
    assert Path.cwd() == ROOT, "run from the repository's root, so that request_source is the path given"
    answers = [a.to_json() for outcome in decider.answer_files([example], "all") for a in outcome.answers]
    return dumps(answers) + "\n"


def case_requests() -> Iterator[tuple[str, str, Any]]:
    """(case file, case name, request document) for each case that writes its request inline (a case
    naming a file of queries/ adds nothing the examples do not pin)."""
    for path in sorted((ROOT / "tests" / "cases").glob("*.yaml")):
        for case in load_cases(path, ROOT):
            if not isinstance(case.request, Path):
                yield path.relative_to(ROOT).as_posix(), case.name, case.request


def case_digests(decider: Decider) -> list[str]:
    """'FILE: CASE<TAB>PAYER<TAB>sha256 of the answer's JSON' for every inline request under every payer
    whose policy can read it, in a fixed order."""
    out = []
    for source, name, doc in case_requests():
        for payer in decider.kb.payers():
            try:
                answers = decider.answer(decider.parse(doc, source), payer)
            except RequestError:
                continue  # a case that expects the request, or this payer's reading of it, refused
            for a in answers:
                text = json.dumps(a.to_json(), ensure_ascii=False)
                out.append(f"{source}: {name}\t{payer}\t{hashlib.sha256(text.encode()).hexdigest()}")
    return out


def main() -> None:
    os.chdir(ROOT)
    decider = Decider(today=TODAY)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for example in examples():
        golden_of(example).write_text(decide_json(decider, example), encoding="utf-8")
    CASE_DIGESTS.write_text("".join(f"{line}\n" for line in case_digests(decider)), encoding="utf-8")


if __name__ == "__main__":
    main()
