"""The output of `lumakras impact` (lumakras_logic/analysis/impact.py): text for people, markdown for a pull
request, JSON for programs, each written record by record as the comparison makes them (a Report gets
`start`, then `record` for each (case, payer) compared, then `finish`): the changes come as they are
found, and what only the end knows (the counts, the unchanged cases -v lists, the kb files) last."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.escape import one_line
from ..core.stream import JsonArray, JsonObject, Spill, Write
from .impact import DASH, Tally


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


def change_lines(c: dict[str, Any]) -> list[str]:
    """For people: one changed (case, payer), its headline, its file and each criterion that changed."""
    out = [f"{show(c['case'])} ({c['payer']}): " + "; ".join(headline_parts(c)), f"    in {show(c['source'])}"]
    for k in c["criteria"]:
        out.append(f"    {criterion_line(k)}")
        if k["because_before"] != k["because_after"]:
            out += [f"        was: {show(b)}" for b in k["because_before"]]
            out += [f"        now: {show(b)}" for b in k["because_after"]]
    return [*out, ""]


def change_row(c: dict[str, Any]) -> str:
    """For a pull request: one changed (case, payer) as a row of the table."""
    old, new = c["before"], c["after"]
    return (f"| {cell(c['case'])} (`{cell(c['source'])}`) | {c['payer']} | "
            f"{cell(pair(old, new, 'decision'))} | {cell(pair(old, new, 'pathway'))} | "
            f"{cell(pair(old, new, 'approval_months'))} | {cell(pair(old, new, 'refer_to'))} | "
            f"{cell(reasons_cell(c))} |")


UNCHANGED_KEYS = ("case", "source", "kind", "payer", "after")


class Report:
    """A report written as the records come: `start` with the kbs, `record` per (case, payer) compared,
    `finish` with the tally. The unchanged records -v lists wait in a Spill (a temporary file)."""

    def __init__(self, write: Write, kb_old: dict[str, Any], kb_new: dict[str, Any], files: dict[str, Any],
                 verbose: bool) -> None:
        self.write, self.kb_old, self.kb_new, self.files, self.verbose = write, kb_old, kb_new, files, verbose
        self.unchanged = Spill()
        self.changes = 0

    def lines(self, lines: list[str]) -> None:
        """Lines out, each one line: case strings stay inert on a terminal."""
        self.write("".join(one_line(line) + "\n" for line in lines))

    def start(self) -> None:
        pass

    def record(self, c: dict[str, Any]) -> None:
        if c["changed"]:
            self.changes += 1
            self.change(c)
        elif self.verbose:
            self.unchanged.add({k: c[k] for k in UNCHANGED_KEYS})

    def change(self, c: dict[str, Any]) -> None:
        raise NotImplementedError

    def finish(self, tally: Tally) -> None:
        raise NotImplementedError

    def trailer(self) -> list[str]:
        return files_lines(self.files) + payer_lines(self.kb_old, self.kb_new, self.files)


class TextReport(Report):
    """For people: one block per changed (case, payer), then the counts, the kb files and the digests."""

    def change(self, c: dict[str, Any]) -> None:
        self.lines(change_lines(c))

    def finish(self, tally: Tally) -> None:
        out: list[str] = []
        if self.verbose:
            out += [f"unchanged  {show(c['case'])} ({c['payer']}): {answer_text(c['after'])}  in {show(c['source'])}"
                    for c in self.unchanged]
            out += [f"skipped    {s}: not a request or case file" for s in tally.skipped]
            if self.unchanged.count or tally.skipped:
                out.append("")
        self.lines([*out, summary_line(tally.summary()), *self.trailer()])
        self.unchanged.close()


class MarkdownReport(Report):
    """A report to paste in a pull request: the changed cases as a table, then counts, files, digests."""

    def start(self) -> None:
        self.lines(["# Impact of the kb change", "",
                    f"old: `{' '.join(self.kb_old['kb'])}` · new: `{' '.join(self.kb_new['kb'])}`", ""])

    def change(self, c: dict[str, Any]) -> None:
        head = ["| case | payer | decision | pathway | months | refer to | reasons |",
                "| --- | --- | --- | --- | --- | --- | --- |"] if self.changes == 1 else []
        self.lines([*head, change_row(c)])

    def finish(self, tally: Tally) -> None:
        out = [] if self.changes else ["No case changed."]
        if self.verbose and self.unchanged.count:
            out += ["", "Unchanged:", ""]
            out += [f"- {cell(c['case'])} ({c['payer']}): {cell(answer_text(c['after']))}" for c in self.unchanged]
        out += ["", summary_line(tally.summary()) + ".", ""]
        out += [f"- {line}" for line in self.trailer()]
        self.lines(out)
        self.unchanged.close()


class JsonReport(Report):
    """The machine-readable report: one object, its `changes` array written as the changes are found."""

    def start(self) -> None:
        self.body = JsonObject(self.write)
        self.body.field("old", self.kb_old)
        self.body.field("new", self.kb_new)
        self.body.field("files", self.files)
        self.array: JsonArray = self.body.array("changes")

    def change(self, c: dict[str, Any]) -> None:
        self.array.add(c)

    def finish(self, tally: Tally) -> None:
        self.array.close()
        self.body.field("summary", tally.summary())
        self.body.field("errors", tally.errors)
        if self.verbose:
            unchanged = self.body.array("unchanged")
            for c in self.unchanged:
                unchanged.add(c)
            unchanged.close()
            self.body.field("skipped", tally.skipped)
        self.body.close()
        self.unchanged.close()


REPORTS: dict[str, Callable[..., Report]] = {"text": TextReport, "markdown": MarkdownReport, "json": JsonReport}
