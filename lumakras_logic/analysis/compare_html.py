"""`lumakras compare --format html`: the comparisons as one self-contained, printable page.

It says what the Markdown report says (compare_render.py), in its words: the title and payers, then one
section per request: each payer's answer, then the concept rows by group (parting rows first, marked ≠, each
followed by its sentence), every cell a criterion's mark, id, words and the facts it rests on. Each criterion
is a `<details>`: open on the rows where the payers part ways, folded elsewhere, so the page opens on the
differences and a print shows them. Markup comes only from core/html.py, which escapes every text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.html import Html, document, join, tag
from ..core.render import MARK
from .compare import DIFFERS, KINDS, Cell, Comparison, PayerAnswer, Row, Unneeded
from .compare_render import (
    ANSWER_LABELS,
    GROUPS,
    LEGEND,
    LEGEND_UNNEEDED,
    NONE,
    ROW_MARK,
    TITLE,
    UNNEEDED_MARK,
    answer_text,
    payers_line,
)

if TYPE_CHECKING:
    from .compare import Comparer


def page(comparer: Comparer, sections: list[Html]) -> str:
    """The whole page: title, payers and legend, then the sections `section` made (one per request)."""
    count = f"{len(sections)} request{'s' if len(sections) != 1 else ''}"
    body = join([tag("h1", TITLE), tag("p", payers_line(comparer), class_="meta"),
                 tag("p", f"{LEGEND}   {LEGEND_UNNEEDED}", class_="meta legend"),
                 *(sections or [tag("p", "No request compared.")])])
    return document(f"{TITLE} ({count})", body)


def section(c: Comparison, payers: list[str]) -> Html:
    """One request: where it came from, then one table whose columns are the payers: the answers, then the
    concept rows by group, each parting row followed by why."""
    width = len(payers) + 2
    head = tag("thead", tag("tr", tag("th", ""), tag("th", ""),
                            *(tag("th", f"{p} ({c.payers[p].policy})", scope="col") for p in payers)))
    answers = [tag("tr", tag("td", "≠" if name in c.differs else "", class_="mark"), tag("th", label, scope="row"),
                   *(tag("td", _answer(c.payers[p], name)) for p in payers),
                   class_="differs" if name in c.differs else None, data_field=name)
               for name, label in ANSWER_LABELS.items()]
    groups: list[str] = [tag("tbody", join(answers), class_="answers")]
    for kind in KINDS:
        rows = [r for r in c.rows if r.kind == kind]
        if rows:
            lines = [tag("tr", tag("th", f"{GROUPS[kind]} ({len(rows)})", colspan=str(width)), class_="group")]
            for r in rows:
                lines.append(_row(r, c, payers))
                if r.why:
                    lines.append(tag("tr", tag("td", ""), tag("td", r.why, colspan=str(width - 1)), class_="why"))
            groups.append(tag("tbody", join(lines), class_=kind))
    empty = None if c.rows else tag("p", "No criterion to compare: no payer could decide the request.")
    return tag("section", tag("h2", c.request),
               tag("p", "Request file ", tag("code", c.source), f", request of {c.date}.", class_="meta"),
               tag("table", head, join(groups), class_="compare"), empty,
               class_="comparison", data_request=c.request)


def _answer(a: PayerAnswer, name: str) -> str:
    """A field of a payer's answer (text, escaped by `tag`); the decision as a badge, a payer's error in red."""
    text = answer_text(a, name)
    if name != "decision":
        return text
    return tag("span", text, class_="error" if a.error else f"decision {a.decision}")


def _row(r: Row, c: Comparison, payers: list[str]) -> Html:
    return tag("tr", tag("td", ROW_MARK[r.kind], class_="mark"), tag("th", r.label, scope="row"),
               *(tag("td", _cells(c.payers[p], r)) for p in payers), class_=r.kind, data_concept=r.concept)


def _cells(a: PayerAnswer, r: Row) -> Html:
    """A payer's criteria on a row, each a `<details>` open where the payers part ways."""
    opened = r.kind == DIFFERS
    if a.error:
        return tag("span", "(cannot decide)", class_="error")
    if r.unneeded.get(a.payer):
        return join(_unneeded(u, opened) for u in r.unneeded[a.payer])
    cells = r.cells.get(a.payer, [])
    if not cells:
        return tag("span", f"{NONE} no criterion", class_="none")
    return join(_cell(cell, opened) for cell in cells)


def _cell(cell: Cell, opened: bool) -> Html:
    summary = tag("summary", tag("span", MARK.get(cell.status, cell.status), class_=f"status {cell.status}"),
                  " ", tag("code", cell.id), " ", cell.text)
    facts = tag("ul", *(tag("li", b) for b in cell.because), class_="facts") if cell.because else None
    return tag("details", summary, facts, class_=f"crit {cell.status}", data_criterion=cell.id, open=opened)


def _unneeded(u: Unneeded, opened: bool) -> Html:
    summary = tag("summary", tag("span", UNNEEDED_MARK, class_="status"), " ", tag("code", u.id), " ", u.text)
    why = f"{u.status.replace('_', ' ')}; {u.within} is met by {', '.join(u.met_by)}"
    return tag("details", summary, tag("ul", tag("li", why), class_="facts"), class_="crit unneeded",
               data_criterion=u.id, open=opened)
