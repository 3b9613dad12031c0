"""`lumakras diff`: the report of where the payers' policies decide differently (lumakras_logic/analysis/diff.py).

A region is an outcome pair in one part of the space (a diagnosis, a request type, a market): "Centene
approves under I.A, Cigna denies". Its description is the alternatives the cover found, each a product of
criterion statuses with its own size and witness request; alternatives that share one payer's side are
written once with the other payer's alternatives beside them. Every word comes from the kb: criterion
words, concept labels, policy ids.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.concepts import Concepts
from ..core.kb import KnowledgeBase, default_kb_dir, natural_key
from ..core.policy import MET, NOT_DOCUMENTED, NOT_MET
from .diff import DiffResult, PartResult, Region
from .diff_plan import RECORDED

_STATUS_WORDS = {MET: "met", NOT_MET: "not met", NOT_DOCUMENTED: "not documented"}
# The order regions are reported in: a decision one way and the opposite the other way first.
_SEVERITY = {("approve", "deny"): 0, ("deny", "approve"): 0, ("refer", "approve"): 1, ("approve", "refer"): 1,
             ("refer", "deny"): 2, ("deny", "refer"): 2, ("approve", "pend"): 3, ("pend", "approve"): 3,
             ("refer", "pend"): 4, ("pend", "refer"): 4, ("deny", "pend"): 5, ("pend", "deny"): 5}


@dataclass
class Report:
    """One region: its outcomes, its alternatives (cover regions) and their witnesses."""

    id: str
    part: PartResult
    kind: str
    outcomes: dict[str, dict[str, Any]]
    size: int
    alternatives: list[Region] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def group_regions(result: DiffResult) -> list[Report]:
    """Regions of each part grouped by outcome pair, in the order of _SEVERITY, then by size."""
    reports: list[Report] = []
    for part in result.parts:
        groups: dict[str, list[Region]] = defaultdict(list)
        for region in part.regions:
            groups[region.kind + json.dumps(region.outcomes, sort_keys=True, default=str)].append(region)

        def order(regions: list[Region]) -> tuple:
            first = regions[0]
            decisions = tuple(o["decision"] for o in first.outcomes.values())
            return (first.kind != "decision", _SEVERITY.get(decisions[:2], 9), -first.group_size)

        for n, regions in enumerate(sorted(groups.values(), key=order), start=1):
            base = f"{part.part.label}-{part.part.request_type}"
            if part.part.market != RECORDED:
                base += f"-{part.part.market}"
            rid = f"{base}-{n:02d}"
            regions.sort(key=lambda r: -r.size)
            report = Report(rid, part, regions[0].kind, regions[0].outcomes, regions[0].group_size, regions)
            report.ids = [f"{rid}{_letter(k)}" for k in range(len(regions))]
            reports.append(report)
    return reports


def _letter(k: int) -> str:
    return chr(ord("a") + k) if k < 26 else f"z{k}"


# ---------------------------------------------------------------------------------------------------------
# words
# ---------------------------------------------------------------------------------------------------------
class Words:
    """Outcomes, constraints and sentences in the kb's words."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.concepts = Concepts(kb)

    def payer(self, payer: str) -> str:
        return f"{payer} ({self.kb.policies[payer].id})" if payer in self.kb.policies else payer

    def outcome(self, o: dict[str, Any]) -> str:
        text = o["decision"]
        if o.get("pathway"):
            text += f" {o['pathway']}"
        months = o.get("approval_months")
        if months:
            shown = {lob: _duration(m) for lob, m in months.items()}
            if len(set(shown.values())) == 1:
                text += f" ({next(iter(shown.values()))})"
            else:
                text += " (" + ", ".join(f"{lob} {m}" for lob, m in shown.items()) + ")"
        if o.get("refer_to"):
            targets = {t for t in o["refer_to"].values() if t}
            text += " to " + ", ".join(f"{t} ({lob})" for lob, t in o["refer_to"].items() if t) \
                if len(targets) > 1 else f" to {next(iter(targets), '?')}"
        return text

    def constraint(self, payer: str, node: str, allowed: frozenset[str]) -> str:
        statuses = " or ".join(_STATUS_WORDS[s] for s in (MET, NOT_MET, NOT_DOCUMENTED) if s in allowed)
        concept = self.concepts.concept_of(payer, node)
        return f"{node} {statuses} [{concept.label}]"

    def side(self, region: Region, payer: str) -> str:
        """One payer's constraints of a region, those its approval implies left out."""
        shown = [self.constraint(p, n, a) for p, n, a in self.shown(region) if p == payer]
        return "; ".join(shown)

    def shown(self, region: Region) -> list[tuple[str, str, frozenset[str]]]:
        out = []
        for p, n, a in region.constraints:
            outcome = region.outcomes[p]
            if outcome["decision"] == "approve" and a == frozenset([MET]) and \
                    n in region.part.plans[p].required.get(outcome["pathway"], ()):
                continue  # an approval means every criterion its pathway needs is met
            out.append((p, n, a))
        return out

    def why(self, region: Region) -> str:
        """One sentence: the criteria where the payers part, in their words, and what the other payer asks
        on the same concept."""
        plans = region.part.plans
        if region.kind == "duration":
            first = region.durations[0]
            months = ", ".join(f"{p} {_months(m)}" for p, m in first["months"].items())
            return (f"both approve, for different durations: {months} "
                    f"(line of business {first['line_of_business']}"
                    + (f", {first['requested_months']} months requested" if first["requested_months"] else "")
                    + ")")
        clauses = []
        for payer, node, allowed in self.shown(region):
            if MET in allowed:
                continue  # context (the use is covered, the dose is fine), not where the payers part
            text = self.kb.node(payer, node).text
            status = " or ".join(_STATUS_WORDS[s] for s in (NOT_MET, NOT_DOCUMENTED) if s in allowed)
            clause = f'{payer} {node} "{text}" is {status}'
            tag = self.concepts.of(payer, node)
            others = []
            for other, plan in plans.items():
                if other == payer:
                    continue
                nodes = plan.asks.get(tag or "", [])
                concept = _lower(self.concepts.concept(tag or "").label)
                if not nodes:
                    others.append(f"{other} has no criterion on {concept}")
                else:
                    statuses = region.witness_statuses.get(other, {})
                    said = [f'{n} "{self.kb.node(other, n).text}"'
                            + (f" ({_STATUS_WORDS[statuses[n]]} here)" if n in statuses else "") for n in nodes]
                    others.append(f"{other} asks " + " and ".join(said))
            clauses.append(clause + (", where " + " and ".join(others) if others else ""))
        return "; ".join(clauses) + "." if clauses else "the payers decide differently on these statuses."


def _duration(months: list[int]) -> str:
    """The durations a pathway grants in one line of business: one, or up to the longest when the
    requested duration caps it."""
    if not months:
        return "no duration"
    return f"{months[0]} months" if len(months) == 1 else f"up to {months[-1]} months"


def _lower(label: str) -> str:
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]


def _months(m: Any) -> str:
    if isinstance(m, list):
        return "/".join(str(x) for x in m) + " months" if m else "no duration"
    return f"{m} months" if m is not None else "no duration"


# ---------------------------------------------------------------------------------------------------------
# witnesses
# ---------------------------------------------------------------------------------------------------------
def write_witnesses(reports: list[Report], words: Words, folder: Path, kb_args: str,
                    scenario_dirs: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for report in reports:
        report.files = []
        for rid, region in zip(report.ids, report.alternatives, strict=True):
            doc = dict(region.witness)
            doc["id"] = f"diff-{rid}"
            market = region.part.market
            extra = ""
            if market != RECORDED:  # the scenario lies over the kb: both are given
                extra = ("" if kb_args else f" --kb {default_kb_dir()}") + f" --kb {scenario_dirs[market]}"
            head = [f"# lumakras diff witness {rid}: {_line(report, words)}",
                    f"# where: {_where(region, words)}",
                    f"# why: {words.why(region)}",
                    f"# replay: lumakras decide {folder / (rid + '.yaml')} --payer all{kb_args}{extra}"]
            # the replay command stays on one line, to be copied
            text = "\n".join(_wrap(h) for h in head[:-1]) + "\n" + head[-1] + "\n" + \
                yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
            path = folder / f"{rid}.yaml"
            # never through a link: a link planted in the folder cannot make us write outside it
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            report.files.append(str(path))


def _wrap(line: str, width: int = 118) -> str:
    words, out, current = line.split(" "), [], ""
    for w in words:
        if current and len(current) + 1 + len(w) > width:
            out.append(current)
            current = "#   " + w
        else:
            current = f"{current} {w}" if current else w
    out.append(current)
    return "\n".join(out)


def _line(report: Report, words: Words) -> str:
    return " | ".join(f"{p} {words.outcome(o)}" for p, o in report.outcomes.items())


def _where(region: Region, words: Words) -> str:
    if region.kind == "duration":
        return "; ".join(f"{d['line_of_business']}"
                         + (f", {d['requested_months']} months requested" if d["requested_months"] else "")
                         + ": " + ", ".join(f"{p} {_months(m)}" for p, m in d["months"].items())
                         for d in region.durations)
    sides = [f"{p}: {words.side(region, p)}" for p in region.outcomes if words.side(region, p)]
    return " AND ".join(sides) or "every profile of the part"


def _causes(region: Region, words: Words) -> tuple[str, str]:
    """The constraints a region needs not met or not documented, and the rest (its context)."""
    if region.kind == "duration":
        return _where(region, words), ""
    shown = words.shown(region)
    cause = [f"{p} {words.constraint(p, n, a)}" for p, n, a in shown if MET not in a]
    context = [f"{p} {words.constraint(p, n, a)}" for p, n, a in shown if MET in a]
    return "; ".join(cause) or "every profile of the part", "; ".join(context)


# ---------------------------------------------------------------------------------------------------------
# renderers
# ---------------------------------------------------------------------------------------------------------
def to_data(result: DiffResult, reports: list[Report], words: Words, today: dt.date) -> dict[str, Any]:
    parts = []
    by_part: dict[int, list[Report]] = defaultdict(list)
    for r in reports:
        by_part[id(r.part)].append(r)
    for part in result.parts:
        p = part.part
        regions = []
        for r in by_part[id(part)]:
            alternatives = []
            for k, (rid, region) in enumerate(zip(r.ids, r.alternatives, strict=True)):
                alternatives.append({
                    "id": rid,
                    "constraints": [{"payer": pay, "criterion": n, "concept": words.concepts.of(pay, n),
                                     "statuses": sorted(a)} for pay, n, a in region.constraints],
                    "where": _where(region, words),
                    "durations": region.durations or None,
                    "size": region.size,
                    "why": words.why(region),
                    "witness": region.witness,
                    "witness_file": r.files[k] if r.files else None,
                    "replayed": region.replayed,
                    "replay_note": region.replay_note or None,
                })
            regions.append({"id": r.id, "kind": r.kind, "outcomes": r.outcomes, "size": r.size,
                            "share": round(r.size / part.profiles, 6) if part.profiles else 0,
                            "alternatives": alternatives})
        d = p.diagnosis
        parts.append({"condition": p.label, "diagnosis": d.fields if d else None, "title": d.title if d else p.label,
                      "stands_for": len(d.alike) if d else 1, "alike": d.alike[:12] if d else [],
                      "request_type": p.request_type, "market": p.market,
                      "profiles": part.profiles, "block_profiles": part.found.block_profiles,
                      "status_vectors_decided": part.found.decided, "points": part.found.points,
                      "fields": {f: len(c) for f, c in p.classes.items()}, "regions": regions})
    return {"payers": {pay: words.kb.policies[pay].id for pay in result.payers},
            "today": today.isoformat(), "markets": result.markets, "scenarios": result.scenario_dirs,
            "seconds": round(result.seconds, 2), "jobs": result.jobs, "totals": totals(result, reports),
            "parts": parts}


def totals(result: DiffResult, reports: list[Report]) -> dict[str, int]:
    return {"parts": len(result.parts), "profiles": sum(p.profiles for p in result.parts),
            "status_vectors_decided": sum(p.found.decided for p in result.parts),
            "points": sum(p.found.points for p in result.parts), "regions": len(reports),
            "alternatives": sum(len(r.alternatives) for r in reports),
            "not_replayed": sum(1 for r in reports for a in r.alternatives if not a.replayed)}


def render_text(result: DiffResult, reports: list[Report], words: Words, markdown: bool) -> str:
    t = totals(result, reports)
    payers = " vs ".join(words.payer(p) for p in result.payers)
    out: list[str] = []
    h1, h2, h3 = ("# ", "## ", "### ") if markdown else ("", "== ", "")
    out.append(f"{h1}lumakras diff: {payers}")
    out.append("")
    out.append(f"{t['regions']} regions ({t['alternatives']} alternatives) where the decisions differ, over "
               f"{t['profiles']:,} abstract profiles in {t['parts']} parts (diagnosis x request type"
               + (" x market" if len(result.markets) > 1 else "") + f"); {t['status_vectors_decided']:,} status "
               f"vectors decided, {t['points']:,} joint points; {result.seconds:.1f} s on {result.jobs} "
               f"process{'es' if result.jobs > 1 else ''}.")
    if t["not_replayed"]:
        out.append(f"WARNING: {t['not_replayed']} witnesses did not replay through the engine.")
    out += ["", f"{h2}Where the payers part, by concept" + ("" if markdown else " =="), ""]
    out += by_concept(reports, words, markdown)
    by_part: dict[int, list[Report]] = defaultdict(list)
    for r in reports:
        by_part[id(r.part)].append(r)
    for part in result.parts:
        p = part.part
        mine = by_part[id(part)]
        market = "" if p.market == RECORDED else f", market scenario {p.market}"
        title = f"{p.label}, {p.request_type} requests{market}"
        out += ["", f"{h2}{title}" + ("" if markdown else " ==")]
        if p.diagnosis:
            out.append(f"Diagnosis: {p.diagnosis.title}" + _alike(p.diagnosis.alike, p.label) + ".")
        out.append(f"{part.profiles:,} profiles, {part.found.decided:,} status vectors decided, "
                   f"{len(mine)} regions.")
        for r in mine:
            share = 100 * r.size / part.profiles if part.profiles else 0
            out += ["", f"{h3}[{r.id}] {_line(r, words)}: {r.size:,} profiles ({share:.2g}%)"]
            for k, (rid, region) in enumerate(zip(r.ids, r.alternatives, strict=True)):
                lead = "- " if markdown else ("    where " if k == 0 else "       or ")
                flag = "" if region.replayed else f"  [witness did not replay: {region.replay_note}]"
                cause, context = _causes(region, words)
                pad = "  " if markdown else "      "
                out.append(f"{lead}{'**' + rid + '**' if markdown else rid}: {cause} ({region.size:,}){flag}")
                if context:
                    out.append(f"{pad}given: {context}")
                out.append(f"{pad}why: {words.why(region)}")
                if r.files:
                    out.append(("  " if markdown else "      ") + f"witness: {r.files[k]}")
    return "\n".join(out) + "\n"


def _alike(alike: list[str], shown: str) -> str:
    """The diagnoses a part stands for besides its own label, a few by name."""
    others = [a for a in alike if a != shown]
    if not others:
        return ""
    names = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4 else "")
    return f"; the criteria treat alike: {names}"


def by_concept(reports: list[Report], words: Words, markdown: bool) -> list[str]:
    """An overview: for each concept, the criteria not met or not documented in the regions' alternatives,
    the diagnoses they part the payers on, and the alternatives that show it."""
    rows: dict[str, dict[str, Any]] = {}
    for r in reports:
        for rid, region in zip(r.ids, r.alternatives, strict=True):
            for payer, node, allowed in region.constraints:
                if MET in allowed:
                    continue
                concept = words.concepts.concept_of(payer, node)
                row = rows.setdefault(concept.id, {"concept": concept, "criteria": set(), "parts": set(),
                                                   "ids": []})
                row["criteria"].add(f"{payer} {node}")
                row["parts"].add(region.part.label)
                if rid not in row["ids"]:
                    row["ids"].append(rid)
    out = []
    if markdown:
        out += ["| concept | criteria | diagnoses | alternatives |", "|---|---|---|---|"]
    for row in sorted(rows.values(), key=lambda r: (r["concept"].rank, r["concept"].id)):
        criteria = ", ".join(sorted(row["criteria"], key=lambda c: (c.split()[0], natural_key(c.split()[1]))))
        parts = ", ".join(sorted(row["parts"]))
        ids = row["ids"]
        shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        if markdown:
            out.append(f"| {row['concept'].label} | {criteria} | {parts} | {shown} |")
        else:
            out.append(f"{row['concept'].label}: {criteria} ({parts}): {shown}")
    return out


# ---------------------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------------------
def default_scenarios() -> list[Path]:
    folder = default_kb_dir().parent / "scenarios"
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
