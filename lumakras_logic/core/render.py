"""Render answers for people: a one-line summary, and the derivation as a tree (`lumakras why`)."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from typing import Any

from .answer import Answer, Criterion
from .escape import json_safe, plain

MARK = {"met": "✔ met", "not_met": "✘ NOT MET", "not_documented": "? not documented"}
DECISION_WORDS = {"approve": "APPROVE", "refer": "REFER", "pend": "PEND", "deny": "DENY"}


def to_json(answers: list[Answer], single: bool) -> str:
    payload: Any = answers[0].to_json() if single and len(answers) == 1 else [a.to_json() for a in answers]
    return json_safe(json.dumps(payload, indent=2, ensure_ascii=False))


def headline(a: Answer) -> str:
    """The decision in one line: what a reviewer reads first."""
    word = DECISION_WORDS.get(a.decision, a.decision.upper())
    head = f"{a.request}  {a.payer} {a.policy}: {word}"
    if a.decision == "approve":
        months = a.approval_months
        head += f" via {a.pathway} " + (f"for {months} months" if months is not None else
                                       "(the kb gives no duration for this request's line of business)")
    elif a.decision == "refer":
        head += f" via {a.pathway} to {a.refer_to or '(no target for this line of business)'}"
    return head


def summary(a: Answer) -> str:
    """`decide` without --json: the headline and, on deny or pend, the nearest pathway's gaps."""
    a = plain(a)  # what came from the request, one line and inert on a terminal
    lines = [headline(a)]
    if a.decision in ("deny", "pend") and a.closest:
        near = a.closest[0]
        failed = [f"{c.id} {c.status.replace('_', ' ')}" for c in near.criteria if c.status != "met"]
        lines.append(f"    nearest {near.pathway}: " + "; ".join(failed))
    if a.decision == "pend":
        fields = sorted({t.field for t in a.to_document})
        lines.append("    send: " + ", ".join(fields))
    lines.append("    " + provenance(a))
    return "\n".join(lines)


def provenance(a: Answer) -> str:
    """What decided the answer, to reproduce and audit it: the policy's revision and the kb's digest."""
    prov = a.provenance
    return (f"by {a.policy} revision {prov.revision}, kb {prov.kb_digest[:16]} "
            f"({len(prov.kb_files)} files), {prov.engine}")


def _leaves(c: Criterion) -> list[tuple[str, str]]:
    """(criterion id, sentence) of the leaves a criterion's status rests on, along its deciding parts."""
    if c.parts:
        return [leaf for part in c.parts for leaf in _leaves(part)]
    return [(c.id, b) for b in c.because]


def reason(a: Answer) -> str:
    """The decision and its ground in one sentence, and what would change it: what a person reads first."""
    word = DECISION_WORDS.get(a.decision, a.decision.upper())
    if a.decision == "approve":
        return (f"{word}: every criterion of pathway {a.pathway} is met"
                f"{'' if a.approval_months is None else ', for ' + str(a.approval_months) + ' months'}.")
    if a.decision == "refer":
        by = next((c for c in a.criteria if c.id == a.refer_by), None)
        grounds = _leaves(by) if by else []
        shown = "; ".join(f"{i}: {b}" for i, b in grounds[:2])
        return f"{word} to {a.refer_to} ({a.refer_by}){': ' + shown if shown else ''}."
    near = a.nearest
    if near is None:
        return f"{word}: no pathway reviews this request."
    if a.decision == "deny" and a.otherwise:  # the policy's words for a use it does not cover
        o = a.otherwise[0]
        return f"{word}: \"{o.text}\" [{o.cite}]; nothing to send would change it."
    if a.decision == "deny":
        failed = [c for c in near.criteria if c.status == "not_met"]
        grounds = []
        for c in failed:
            leaves = list(dict.fromkeys(b for _i, b in _leaves(c)))
            grounds.append(f"{c.id}, {'; '.join(leaves[:2])}{'; ...' if len(leaves) > 2 else ''}"
                           if leaves else c.id)
        return (f"{word}: {'; '.join(grounds)} (pathway {near.pathway}, the nearest); nothing to send would "
                "change it.")
    sends = [t for t in a.to_document if t.pathway == near.pathway] or list(a.to_document)
    questions = [(t.question or f"send {t.field}").rstrip(".") for t in sends]
    # a closing clause several questions share (how to send a drug the vocabulary does not name) is said once
    tails = Counter(q.rpartition("; ")[2] for q in questions if "; " in q)
    common = [tail for tail, n in tails.items() if n > 1]
    asked: dict[str, list[str]] = {}  # question -> the criteria it serves
    for t, question in zip(sends, questions, strict=True):
        head, _sep, tail = question.rpartition("; ")
        if tail in common:
            question = head
        asked.setdefault(f"{question[:1].lower()}{question[1:]}", []).append(t.node)
    given = list(dict.fromkeys(g for t in sends for g in t.given))
    shown = "; ".join([f"{q} ({', '.join(dict.fromkeys(nodes))})" for q, nodes in asked.items()]
                      + [f"{tail[:1].lower()}{tail[1:]}" for tail in common])
    return (f"{word}: {shown}"
            f" — to decide pathway {near.pathway}{' (' + '; '.join(given) + ')' if given else ''}.")


def why(a: Answer, nearest: int = 3, show_rules: bool = True, show_all: bool = False) -> str:
    """The decision first, with its reason in one sentence; then the derivation as a tree, or the nearest
    pathways and what to send. Pathways for another diagnosis are folded away unless `show_all`."""
    a = plain(a)  # what came from the request, one line and inert on a terminal
    prov = a.provenance
    out = [headline(a), f"  {reason(a)}", f"  policy: {prov.title} ({a.policy}, revision {prov.revision})"]
    out.append(f"  kb digest {prov.kb_digest[:16]} ({len(prov.kb_files)} files), "
               f"{prov.engine}; request {prov.request_source} of {prov.request_date.isoformat()}")
    for u in a.unclassified:
        out.append(f"  {u.field}: {u.because}")
    out.append("")
    if a.decision in ("approve", "refer"):
        verb = "approved" if a.decision == "approve" else "referred"
        out.append(f"Why {verb}: pathway {a.pathway} is derived; its criteria:")
        for c in a.criteria:
            out += _tree(c, 1, show_rules)
        if a.decision == "refer":
            out.append("")
            out.append(f"Referred to {a.refer_to} by {a.refer_by}, for the line of business of the request.")
    else:
        candidates = list(a.closest) if show_all else [p for p in a.closest if not p.other_diagnosis]
        folded = len(a.closest) - len(candidates)
        shown = candidates[:nearest] if nearest else candidates
        verb = "denied" if a.decision == "deny" else "pended"
        more = f"; {folded} pathway{'s' if folded != 1 else ''} for another diagnosis folded (--all)" if folded else ""
        out.append(f"Why {verb}: no pathway is derived. Nearest pathways "
                   f"({len(shown)} of {len(a.closest)}{more}), nearest first:")
        for p in shown:
            out.append("")
            out.append(f"  Pathway {p.pathway}: {p.text}  [{p.cite}]  "
                       f"— {p.not_met} not met, {p.not_documented} not documented")
            for c in p.criteria:
                out += _tree(c, 2, show_rules)
        for o in a.otherwise or ():
            out.append("")
            out.append(f"  Otherwise: {o.text}  [{o.cite}]")
    if a.decision == "pend" and a.to_document:
        out.append("")
        out.append("To decide, send:")
        for t in a.to_document:
            alt = f", any one of {t.any_of}" if t.any_of else ""
            out.append(f"  - {t.field} (for {t.node}, pathway {t.pathway}{alt}): {t.text}")
            for line in [t.because, *t.given, t.question or ""]:
                if line:
                    out += textwrap.wrap(line, width=110, initial_indent="      · ", subsequent_indent="        ")
    return "\n".join(out)


def _tree(c: Criterion, depth: int, show_rules: bool) -> list[str]:
    pad = "  " * depth
    lines = [f"{pad}{MARK.get(c.status, c.status)}  {c.id}: {c.text}  [{c.cite}]"]
    inner = pad + "    "
    if c.parts:
        for part in c.parts:
            lines += _tree(part, depth + 2, show_rules)
    else:
        for b in c.because:
            lines += textwrap.wrap(b, width=110, initial_indent=inner + "· ", subsequent_indent=inner + "  ")
        for s in c.sources:
            lines += textwrap.wrap(s, width=110, initial_indent=inner + "from ", subsequent_indent=inner + "  ")
    if show_rules and c.rules and not c.parts:
        lines.append(f"{inner}rests on {', '.join(c.rules)}")
    return lines
