"""Render `lumakras compare`: a side-by-side table for a terminal, a Markdown report, and JSON.

The three say the same things: each payer's answer, then the concept rows (parting rows first, marked ≠, each
with its sentence), every cell a criterion's id, words, status and the facts it rests on. compare_html.py says
them on an HTML page, in the words defined here.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..core.escape import json_safe, one_line
from ..core.render import DECISION_WORDS, MARK
from .compare import AGREES, DIFFERS, ONE_SIDED, Cell, Comparison, PayerAnswer, Row, Unneeded

if TYPE_CHECKING:
    from .compare import Comparer

TITLE = "Prior-authorization requests compared across payers"
GROUPS = {DIFFERS: "Where the payers part ways", ONE_SIDED: "Asked by only some of the payers",
          AGREES: "Where the payers agree"}
ROW_MARK = {DIFFERS: "≠", ONE_SIDED: "◦", AGREES: "="}
LEGEND = "≠ the payers part ways   ◦ only some payers ask (no obstacle)   = they agree"
LEGEND_UNNEEDED = "○ not needed: another alternative of a \"one of\" is met"
UNNEEDED_MARK = "○ not needed"
ANSWER_LABELS = {"decision": "decision", "pathway": "pathway", "approval_months": "approval months",
                 "refer_to": "refer to", "focus": "criteria shown"}
NONE = "—"


# ----------------------------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------------------------


def to_dict(c: Comparison) -> dict[str, Any]:
    """One request's comparison as plain data: answers per payer, then the rows with their cells."""
    return {
        "request": c.request,
        "source": c.source,
        "date": c.date,
        "payers": {p: _answer_dict(a) for p, a in c.payers.items()},
        "differs": c.differs,
        "rows": [_row_dict(r) for r in c.rows],
    }


def _answer_dict(a: PayerAnswer) -> dict[str, Any]:
    return {"policy": a.policy, "revision": a.revision, "decision": a.decision, "pathway": a.pathway,
            "pathway_text": a.pathway_text, "approval_months": a.approval_months, "refer_to": a.refer_to,
            "error": a.error, "focus": [asdict(f) for f in a.focus], "kb_digest": a.kb_digest}


def _row_dict(r: Row) -> dict[str, Any]:
    return {"concept": r.concept, "label": r.label, "differs": r.kind == DIFFERS, "kind": r.kind, "why": r.why,
            "status": r.standing,
            "cells": {p: [_cell_dict(c) for c in cells] for p, cells in r.cells.items()},
            "not_needed": {p: [asdict(u) for u in items] for p, items in r.unneeded.items()}}


def _cell_dict(c: Cell) -> dict[str, Any]:
    return {"id": c.id, "text": c.text, "status": c.status, "because": c.because, "cite": c.cite,
            "pathway": c.pathway}


def render_json(comparisons: list[Comparison]) -> str:
    """A JSON list, one object per request compared (a request that could not be read is not in it)."""
    return json_safe(json.dumps([to_dict(c) for c in comparisons], indent=2, ensure_ascii=False))


# ----------------------------------------------------------------------------------------------------------
# Text
# ----------------------------------------------------------------------------------------------------------


def render_text(c: Comparison, payers: list[str], width: int | None = None) -> str:
    """The answers, then the rows by group as a side-by-side table (≠ marks a parting row), then why."""
    total = width or max(100, min(shutil.get_terminal_size((120, 24)).columns, 180))
    label_w = 22
    col_w = max(24, (total - 4 - label_w - 3 * len(payers)) // len(payers))
    heads = [f"{p} {c.payers[p].policy}" for p in payers]
    out = [f"{c.request}  ({c.source}, request of {c.date})", ""]
    out += _grid([("", "", [[h] for h in heads])], label_w, col_w)
    answer_rows = []
    for name in (*ANSWER_LABELS,):
        mark = "≠" if name in c.differs else ""
        answer_rows.append((mark, ANSWER_LABELS[name], [_wrap(answer_text(c.payers[p], name), col_w)
                                                         for p in payers]))
    out += _grid(answer_rows, label_w, col_w)
    for kind in (DIFFERS, ONE_SIDED, AGREES):
        rows = [r for r in c.rows if r.kind == kind]
        if not rows:
            continue
        out += ["", f"{GROUPS[kind]} ({len(rows)})"]
        out += _grid([(ROW_MARK[kind], r.label, [_cell_lines(c.payers[p], r, col_w) for p in payers])
                      for r in rows], label_w, col_w, gap=True)
    if not c.rows:
        out += ["", "No criterion to compare: no payer could decide the request."]
    parting = [r for r in c.rows if r.why]
    if parting:
        out += ["", "Why they part ways:"]
        for r in parting:
            out += textwrap.wrap(r.why or "", width=total - 2, initial_indent="  - ", subsequent_indent="    ")
    out += ["", _legend(c)]
    return "\n".join(one_line(line) for line in out)  # each is one line: what came from a request stays inert


def _legend(c: Comparison) -> str:
    return LEGEND + ("   " + LEGEND_UNNEEDED if any(r.unneeded for r in c.rows) else "")


def answer_text(a: PayerAnswer, name: str) -> str:
    """One field of a payer's answer, as a reviewer reads it."""
    if a.error:
        return a.error if name == "decision" else NONE
    if name == "decision":
        return DECISION_WORDS.get(a.decision or "", str(a.decision).upper())
    if name == "pathway":
        return f"{a.pathway}: {a.pathway_text}" if a.pathway else NONE
    if name == "approval_months":
        return f"{a.approval_months} months" if a.approval_months is not None else NONE
    if name == "refer_to":
        return a.refer_to or NONE
    return "; ".join(f"{f.pathway} ({f.role})" if f.role == "answer" else f"{f.pathway} ({f.role}): {f.text}"
                     for f in a.focus) or NONE


def _cell_lines(a: PayerAnswer, row: Row, width: int) -> list[str]:
    """A payer's criteria on a row: the mark, id and words, then the facts, each wrapped to the column."""
    if a.error:
        return ["(cannot decide)"]
    cells = row.cells.get(a.payer, [])
    if row.unneeded.get(a.payer):
        return [line for u in row.unneeded[a.payer] for line in _unneeded_lines(u, width)]
    if not cells:
        return [f"{NONE} no criterion"]
    lines: list[str] = []
    for cell in cells:
        lines += _wrap(f"{MARK.get(cell.status, cell.status)}  {cell.id}: {cell.text}", width, "    ")
        for b in cell.because:
            lines += _wrap(b, width, "      ", "    · ")
    return lines


def _unneeded_lines(u: Unneeded, width: int) -> list[str]:
    return (_wrap(f"{UNNEEDED_MARK}  {u.id}: {u.text}", width, "    ")
            + _wrap(f"{u.status.replace('_', ' ')}; {u.within} is met by {', '.join(u.met_by)}", width,
                    "      ", "    · "))


def _wrap(text: str, width: int, indent: str = "", first: str = "") -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=indent) or [""]


def _grid(rows: list[tuple[str, str, list[list[str]]]], label_w: int, col_w: int, gap: bool = False) -> list[str]:
    """Rows of (mark, label, one list of lines per column), laid side by side; a label wraps in its column."""
    out: list[str] = []
    for mark, label, columns in rows:
        label_lines = _wrap(label, label_w) if label else [""]
        height = max(len(label_lines), *(len(col) for col in columns))
        for i in range(height):
            parts = [f"{mark if i == 0 else '':<2}", f"{label_lines[i] if i < len(label_lines) else '':<{label_w}}"]
            parts += [f"{col[i] if i < len(col) else '':<{col_w}}" for col in columns]
            out.append(" ".join(parts).rstrip())
        if gap:
            out.append("")
    if gap and out:
        out.pop()
    return out


# ----------------------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------------------


def payers_line(comparer: Comparer) -> str:
    """Which payers a report compares, under which policies and revisions (markdown and HTML alike)."""
    kb = comparer.kb
    names = ", ".join(f"{p} ({kb.policies[p].id}, revision {kb.policies[p].revision})" for p in comparer.payers)
    return f"Payers: {names}."


def render_markdown_title(comparer: Comparer) -> str:
    """The report's title: which payers, under which policies and revisions."""
    return f"# {TITLE}\n\n{payers_line(comparer)}\n\n{LEGEND}   {LEGEND_UNNEEDED}\n"


def render_markdown(c: Comparison, payers: list[str]) -> str:
    """A request's section: the answers as a table, the rows as a table, the parting sentences as a list."""
    out = [f"## {_md(c.request)}", "", f"Request file `{c.source}`, request of {c.date}.", ""]
    out.append("| | " + " | ".join(_md(f"{p} ({c.payers[p].policy})") for p in payers) + " |")
    out.append("|---|" + "---|" * len(payers))
    for name in ANSWER_LABELS:
        mark = " ≠" if name in c.differs else ""
        out.append(f"| {ANSWER_LABELS[name]}{mark} | "
                   + " | ".join(_md(answer_text(c.payers[p], name)) for p in payers) + " |")
    out.append("")
    if c.rows:
        out.append("| | concept | " + " | ".join(_md(p) for p in payers) + " |")
        out.append("|---|---|" + "---|" * len(payers))
        for r in c.rows:
            out.append(f"| {ROW_MARK[r.kind]} | {_md(r.label)} | "
                       + " | ".join(_md_cells(c.payers[p], r) for p in payers) + " |")
        out.append("")
    parting = [r for r in c.rows if r.why]
    if parting:
        out += ["**Where the payers part ways**", ""]
        out += [f"- {_md(r.why or '')}" for r in parting]
        out.append("")
    return "\n".join(out)


def _md_cells(a: PayerAnswer, row: Row) -> str:
    if a.error:
        return "(cannot decide)"
    cells = row.cells.get(a.payer, [])
    if row.unneeded.get(a.payer):
        return "<br>".join(f"{UNNEEDED_MARK} `{u.id}` {_md(u.text)}<br>· {u.status.replace('_', ' ')}; "
                           f"{u.within} is met by {', '.join(u.met_by)}" for u in row.unneeded[a.payer])
    if not cells:
        return f"{NONE} no criterion"
    parts = []
    for cell in cells:
        text = f"{MARK.get(cell.status, cell.status)} `{cell.id}` {_md(cell.text)}"
        text += "".join(f"<br>· {_md(b)}" for b in cell.because)
        parts.append(text)
    return "<br>".join(parts)


def _md(text: str) -> str:
    """Text from the kb or a request, safe inside a Markdown table cell."""
    text = text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for special in "|*`":
        text = text.replace(special, "\\" + special)
    return " ".join(text.splitlines())
