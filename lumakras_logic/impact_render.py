"""The output of `lumakras impact` (lumakras_logic/impact.py): text for people, markdown for a pull
request, JSON for programs."""

from __future__ import annotations

import json
from typing import Any

from .escape import json_safe, one_line
from .impact import DASH, Impact, summary


def show(value: Any) -> str:
    """A value on one line; None as a dash."""
    if value is None:
        return DASH
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(value))


def decision_text(snap: dict[str, Any] | None) -> str:
    """The decision, or the rejection that stood in its place."""
    if snap is None:
        return DASH
    if snap["error"]:
        return f"rejected ({snap['error'].split(':', 1)[0]})"
    return show(snap["decision"])


def arrow(before: Any, after: Any) -> str:
    return f"{show(before)} → {show(after)}"


def headline_parts(c: dict[str, Any]) -> list[str]:
    """The scalar changes of one record, as 'decision deny → approve' pieces."""
    old, new = c["before"], c["after"]
    if "payer" in c["changed"]:
        side = "new" if old is None else "old"
        there = new if old is None else old
        return [f"payer {c['payer']}: only in the {side} kb ({side}: {answer_text(there)})"]
    parts = []
    if "decision" in c["changed"]:
        parts.append(f"decision {decision_text(old)} → {decision_text(new)}")
    for key, label in (("pathway", "pathway"), ("approval_months", "approval_months"),
                       ("refer_to", "refer_to"), ("refer_by", "refer_by")):
        if old[key] != new[key]:
            parts.append(f"{label} {arrow(old[key], new[key])}")
    for key in ("to_document", "unclassified"):
        added = [x for x in new[key] if x not in old[key]]
        removed = [x for x in old[key] if x not in new[key]]
        if added or removed:
            parts.append(f"{key} " + ", ".join([*(f"+{x}" for x in added), *(f"-{x}" for x in removed)]))
    if not parts and c["criteria"]:
        parts.append("reasons of " + ", ".join(k["id"] for k in c["criteria"]))
    return parts


def answer_text(snap: dict[str, Any] | None) -> str:
    """'approve via I.A for 6 months', 'refer via I.D to CP.PMN.53', 'deny': an answer in a few words."""
    if snap is None:
        return DASH
    text = decision_text(snap)
    if snap["pathway"]:
        text += f" via {snap['pathway']}"
    if snap["approval_months"] is not None:
        text += f" for {snap['approval_months']} months"
    if snap["refer_to"]:
        text += f" to {snap['refer_to']}"
    return text


def criterion_line(k: dict[str, Any]) -> str:
    """'I.A.3: met → not_met', or 'I.A.3: met, because changed' when only its reasons changed."""
    if k["before"] == k["after"]:
        return f"{k['id']}: {show(k['before'])}, because changed"
    return f"{k['id']}: {arrow(k['before'], k['after'])}"


def render_text(impact: Impact, kb_old: dict[str, Any], kb_new: dict[str, Any], files: dict[str, Any],
                verbose: bool) -> str:
    """For people: one block per changed (case, payer), then the counts, the kb files and the digests."""
    out: list[str] = []
    for c in impact.changes:
        out.append(f"{show(c['case'])} ({c['payer']}): " + "; ".join(headline_parts(c)))
        out.append(f"    in {show(c['source'])}")
        for k in c["criteria"]:
            out.append(f"    {criterion_line(k)}")
            if k["because_before"] != k["because_after"]:
                out += [f"        was: {show(b)}" for b in k["because_before"]]
                out += [f"        now: {show(b)}" for b in k["because_after"]]
        out.append("")
    if verbose:
        out += [f"unchanged  {show(c['case'])} ({c['payer']}): {answer_text(c['after'])}  in {show(c['source'])}"
                for c in impact.unchanged]
        out += [f"skipped    {s}: not a request or case file" for s in impact.skipped]
        if impact.unchanged or impact.skipped:
            out.append("")
    out.append(summary_line(summary(impact)))
    out += files_lines(files) + payer_lines(kb_old, kb_new, files)
    return "\n".join(one_line(line) for line in out)  # each is one line: case strings stay inert


def summary_line(s: dict[str, Any]) -> str:
    """'N cases under M payers re-decided (A answers): K changed (decision D, ...), U unchanged'."""
    kinds = [f"decision {s['decision']}", f"pathway {s['pathway']}", f"duration {s['duration']}",
             f"reasons {s['reasons']}"]
    kinds += [f"{k} {s[k]}" for k in ("refer_to", "payer") if s[k]]
    line = (f"{plural(s['cases'], 'case')} under {plural(s['payers'], 'payer')} re-decided "
            f"({s['answers']} answers): "
            f"{s['changed']} changed ({', '.join(kinds)}), {s['unchanged']} unchanged")
    return line + (f"; {s['errors']} could not be read" if s["errors"] else "")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def files_lines(files: dict[str, Any]) -> list[str]:
    """The kb files the change touched, or a word that it touched none."""
    parts = [f"{how} {', '.join(files[how])}" for how in ("added", "removed", "changed") if files[how]]
    return ["kb files: " + ("; ".join(parts) if parts else "identical")]


def payer_lines(kb_old: dict[str, Any], kb_new: dict[str, Any], files: dict[str, Any]) -> list[str]:
    """Per payer: its policy and revision, whether the digest of the files that decide it moved, and
    which of those files the change touched."""
    out = []
    a, b = kb_old["payers"], kb_new["payers"]
    for p in sorted(set(a) | set(b)):
        if p not in a or p not in b:
            out.append(f"payer {p}: only in the {'new' if p not in a else 'old'} kb")
            continue
        rev = a[p]["revision"] if a[p]["revision"] == b[p]["revision"] else arrow(a[p]["revision"],
                                                                                   b[p]["revision"])
        line = f"payer {p}: {b[p]['policy']} revision {rev}, kb digest "
        if a[p]["kb_digest"] == b[p]["kb_digest"]:
            out.append(line + "unchanged")
            continue
        touched = files["by_payer"].get(p, [])
        why = f"its files changed: {', '.join(touched)}" if touched else \
            "its files have the same contents (the digest also names the kb folder)"
        out.append(line + f"{a[p]['kb_digest'][:12]} → {b[p]['kb_digest'][:12]}; {why}")
    return out


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return show(text).replace("|", "\\|")


def pair(old: dict[str, Any] | None, new: dict[str, Any] | None, key: str) -> str:
    """One column of the table: the value, or 'before → after' when it changed."""
    x, y = (old or {}).get(key), (new or {}).get(key)
    if key == "decision":
        x, y = decision_text(old), decision_text(new)
    return show(x) if x == y else arrow(x, y)


def reasons_cell(c: dict[str, Any]) -> str:
    """The criteria that changed, and for a reason that changed alone, its words before and after."""
    parts = []
    for k in c["criteria"]:
        text = criterion_line(k)
        if k["before"] == k["after"]:
            text += f" ({'; '.join(k['because_before'])} → {'; '.join(k['because_after'])})"
        parts.append(text)
    if "payer" in c["changed"]:
        parts.append(headline_parts(c)[0])
    else:
        parts += [p for p in headline_parts(c) if p.startswith(("to_document", "unclassified", "refer_by"))]
    return "; ".join(parts)


def render_markdown(impact: Impact, kb_old: dict[str, Any], kb_new: dict[str, Any],
                    files: dict[str, Any], verbose: bool) -> str:
    """A report to paste in a pull request: the changed cases as a table, then counts, files, digests."""
    out = ["# Impact of the kb change", "",
           f"old: `{' '.join(kb_old['kb'])}` · new: `{' '.join(kb_new['kb'])}`", ""]
    if impact.changes:
        out += ["| case | payer | decision | pathway | months | refer to | reasons |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in impact.changes:
            old, new = c["before"], c["after"]
            out.append(f"| {cell(c['case'])} (`{cell(c['source'])}`) | {c['payer']} | "
                       f"{cell(pair(old, new, 'decision'))} | {cell(pair(old, new, 'pathway'))} | "
                       f"{cell(pair(old, new, 'approval_months'))} | {cell(pair(old, new, 'refer_to'))} | "
                       f"{cell(reasons_cell(c))} |")
    else:
        out.append("No case changed.")
    if verbose and impact.unchanged:
        out += ["", "Unchanged:", ""]
        out += [f"- {cell(c['case'])} ({c['payer']}): {cell(answer_text(c['after']))}" for c in impact.unchanged]
    out += ["", summary_line(summary(impact)) + ".", ""]
    out += [f"- {line}" for line in files_lines(files) + payer_lines(kb_old, kb_new, files)]
    return "\n".join(one_line(line) for line in out)  # each is one line: case strings stay inert


def render_json(impact: Impact, kb_old: dict[str, Any], kb_new: dict[str, Any],
                files: dict[str, Any], verbose: bool) -> str:
    """The machine-readable report (one object)."""
    body: dict[str, Any] = {"old": kb_old, "new": kb_new, "files": files, "changes": impact.changes,
                            "summary": summary(impact), "errors": impact.errors}
    if verbose:
        body["unchanged"] = [{k: c[k] for k in ("case", "source", "kind", "payer", "after")}
                             for c in impact.unchanged]
        body["skipped"] = impact.skipped
    return json_safe(json.dumps(body, indent=2, ensure_ascii=False))


RENDER = {"text": render_text, "markdown": render_markdown, "json": render_json}


