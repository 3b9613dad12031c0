"""`decide --format csv`: one row per request and payer, for a batch read in a spreadsheet or by a program
(docs/answers.md, "CSV for batches").

The standard library's csv writer, RFC 4180 but for the line ending: the header row first, always; a cell
quoted only when it needs it (QUOTE_MINIMAL: a comma or a double quote, which is doubled); rows end in "\\n",
as a Unix tool's lines do (csv readers, Python's and spreadsheets', read either ending).

Safety, for what came from outside (a request's id, a file's name, an error naming them):
- every string cell passes through `one_line` (core/escape.py) as the text output does, so a cell holds no
  line break, terminal escape or bidi override, and a row is exactly one line (`wc -l`, `head`, `grep` work);
- then a cell that begins with =, +, -, @, a tab or a carriage return gets a leading ' (OWASP, "CSV
  Injection"), so that a spreadsheet shows it instead of running it as a formula: `=HYPERLINK(...)` as a
  request id is written `'=HYPERLINK(...)` (and standard input, `-`, is `'-`). one_line has already escaped
  a tab or a carriage return (`\\t`, `\\r`); they are checked all the same.
Numbers (approval_months) are written as numbers, never guarded.

A file that cannot be read, or a payer whose policy cannot read a request (under --payer all, while the
others answer), is a row of its own with `error` set (one per problem, as stderr has one line per problem),
before the file's answers: a batch's CSV accounts for every request file and payer.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING

from .answer import Answer
from .escape import one_line
from .stream import Write

if TYPE_CHECKING:
    from .api import Outcome

COLUMNS = ("source", "request", "payer", "policy", "decision", "pathway", "nearest_pathway", "approval_months",
           "refer_to", "not_met", "not_documented", "to_document", "kb_digest", "error")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula (OWASP)
JOIN = "; "  # between the ids of a list cell (not_met, not_documented, to_document)

Cell = str | int


def cell(value: str | int | None) -> Cell:
    """A value as written: None empty, a number as it is, a string on one line and never a formula."""
    if value is None:
        return ""
    if isinstance(value, int):
        return value
    text = one_line(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def answer_row(a: Answer, source: str) -> list[Cell]:
    """An answer's row: the derived pathway on approve and refer; the nearest pathway and its criteria not met
    and not documented on deny and pend; on pend, the request fields to send."""
    gaps = a.decision in ("deny", "pend")
    near = a.nearest if gaps else None

    def ids(status: str) -> str | None:
        return JOIN.join(c.id for c in near.criteria if c.status == status) if near is not None else None

    values = {"source": source, "request": a.request, "payer": a.payer, "policy": a.policy, "decision": a.decision,
              "pathway": None if gaps else a.pathway, "nearest_pathway": near.pathway if near is not None else None,
              "approval_months": a.approval_months, "refer_to": a.refer_to, "not_met": ids("not_met"),
              "not_documented": ids("not_documented"),
              "to_document": JOIN.join(sorted({t.field for t in a.to_document})) if a.decision == "pend" else None,
              "kb_digest": a.provenance.kb_digest, "error": None}
    return [cell(values[c]) for c in COLUMNS]


def error_row(source: str, error: str, payer: str | None = None, request: str | None = None) -> list[Cell]:
    """A row for what could not be answered: the file's error (payer empty), or one payer's."""
    values = {"source": source, "request": request, "payer": payer, "error": error}
    return [cell(values.get(c)) for c in COLUMNS]


def outcome_rows(outcome: Outcome) -> Iterator[list[Cell]]:
    """A file's rows: one per problem of its error, then one per answer."""
    if outcome.error is not None:
        for problem in outcome.error.problems or [outcome.error]:
            yield error_row(outcome.source, str(problem), outcome.error_payer, outcome.request)
    for a in outcome.answers:
        yield answer_row(a, outcome.source)


class CsvRows:
    """Rows written as the outcomes come, the header first (alone when nothing is answered)."""

    def __init__(self, write: Write) -> None:
        self._writer = csv.writer(SimpleNamespace(write=write), lineterminator="\n")
        self._writer.writerow(COLUMNS)

    def add(self, outcome: Outcome) -> None:
        self._writer.writerows(outcome_rows(outcome))
