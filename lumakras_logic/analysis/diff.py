"""Where two payers' policies decide differently, over every request the abstraction can tell apart.

The request space is the finite abstraction of lumakras_logic/authoring/abstraction.py: each field a criterion reads
gets representative values from the kb (the boundaries of its comparisons, its constants and sets, every
condition with every histology, every drug-list entry the vocabulary can name and the lists they make, "not
given"), one per distinct status vector of the criteria reading it. `diff` cuts that space by diagnosis (one
part per representative of the diagnosis field: a distinct vector of the criteria on the diagnosis) and
request type, and in each part:

1. fixes the nodes the diagnosis and the request type alone decide (Cigna 2 is not_met for an NSCLC request
   whatever else it says), so the fields only such nodes read do not multiply the part's profiles;
2. merges the values of each remaining field that give every criterion reading it the same status (its
   classes: ages 18 and 40 are one class);
3. groups the fields that tagged criteria (kb/vocab/concepts.dl) read together, across payers, into blocks,
   and enumerates each block on its own into the distinct statuses of its criteria;
4. takes the product of the blocks' statuses as the part's points, and folds each payer's status vector up
   its policy's tree once, with the policy model's Kleene table and decision rule (PolicyModel.conclude);
5. covers the points where the decisions differ by regions: products of criterion statuses, grown
   greedily as wide as they can be without taking in a point of another outcome, each with its size and a
   witness request that is replayed through the engine before it is believed.

Steps 1-3 are diff_plan.py, 4-5 diff_points.py (worker processes), both in lumakras_logic/analysis/; this
module runs them over the markets, words the outcomes and writes and replays the witnesses; diff_report.py prints.

The line of business and the requested duration decide no criterion, only durations and referral
targets; they multiply the counts and are compared where both payers approve (durations).

Market facts (a generic on the market, a label change) are kb facts, not request fields: with the shipped
market they are constant. `--scenario DIR` adds a what-if kb overlay (scenarios/ ships two) and diffs it too,
reporting the regions it adds.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..authoring.abstraction import ABSENT, build_space
from ..core.api import Decider
from ..core.concepts import Concepts
from ..core.exits import quiet_worker
from ..core.policy import MET
from ..core.request import FIELD_TYPES, Request, RequestError
from .diff_plan import ALL, CONDITION, RECORDED, Diagnosis, Part, diagnoses, plan_part
from .diff_points import Found, Outcome, Track, enumerate_parts, untracked


# ---------------------------------------------------------------------------------------------------------
# Regions
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Region:
    """A set of profiles where the payers decide differently, described by criterion statuses."""

    part: Part
    outcomes: dict[str, dict[str, Any]]  # payer -> decision, pathway, approval_months, refer_to (by lob)
    constraints: list[tuple[str, str, frozenset[str]]]  # (payer, criterion, allowed statuses)
    size: int  # abstract profiles (line of business and requested duration included)
    group_size: int  # profiles of the whole outcome pair in this part
    witness: dict[str, Any] = field(default_factory=dict)
    witness_statuses: dict[str, dict[str, str]] = field(default_factory=dict)
    kind: str = "decision"  # 'decision' | 'duration'
    durations: list[dict[str, Any]] = field(default_factory=list)  # for 'duration' regions
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)  # payer -> the witness's answer
    replayed: bool | None = None
    replay_note: str = ""


@dataclass
class PartResult:
    part: Part
    found: Found
    profiles: int
    regions: list[Region]


class Differ:
    """Runs a diff over one kb (one market) and its parts."""

    def __init__(self, decider: Decider, market: str = RECORDED, payers: list[str] | None = None) -> None:
        self.decider = decider
        self.market = market
        known = list(decider.kb.payers())
        self.payers = payers or known
        unknown = [p for p in self.payers if p not in known]
        if unknown or len(self.payers) < 2:
            raise ValueError(f"--payer: {', '.join(unknown) or 'at least two payers'}: "
                             f"the kb has {', '.join(known)}")
        self.space = build_space(decider)
        self.key = self.space.key_of(CONDITION) or CONDITION
        self.space.domains.setdefault(self.key, [ABSENT])
        self.diagnoses: dict[Any, Diagnosis] = diagnoses(decider, self.space, self.key)
        self.concepts = Concepts(decider.kb)
        self.months_cache: dict[tuple, int | None] = {}
        self.rm_values = self._requested_months()

    def conditions(self) -> list[Any]:
        """The representatives of the diagnosis field: one per distinct vector of the criteria on it."""
        return list(self.space.domains[self.key])

    def label(self, condition: Any) -> str:
        return self.diagnoses[condition].label

    def chosen(self, wanted: Iterable[str]) -> list[Any]:
        """The diagnoses `--condition` names: by a part's label, or by a diagnosis it stands for (a condition
        id, with '+histology' when one is given)."""
        wanted = set(wanted)
        return [c for c in self.conditions() if self.label(c) in wanted
                or any(a in wanted for a in self.diagnoses[c].alike)]

    def request_types(self) -> list[str]:
        return list(FIELD_TYPES["request_type"][1])

    def parts(self, conditions: Iterable[Any] | None = None) -> list[Part]:
        chosen = list(conditions) if conditions is not None else self.conditions()
        return [plan_part(self.decider, self.space, self.market, c, t, self.payers, self.diagnoses[c])
                for c in chosen for t in self.request_types()]

    def _requested_months(self) -> list[Any]:
        """The requested durations that can change a capped duration: each duration and one month less."""
        kb = self.decider.kb
        values: set[int] = set()
        if kb.defined("duration_capped_by_request"):
            capped = {(p, w, lob) for p, w, lob in kb.ask("duration_capped_by_request", "?P", "?W", "?L")}
            for p, w, lob, m in kb.ask("duration", "?P", "?W", "?L", "?M"):
                if (p, w, lob) in capped and isinstance(m, int):
                    values |= {m - 1, m} if m > 1 else {m}
        return [*sorted(values), ABSENT]

    # outcomes ---------------------------------------------------------------------------------------
    def months(self, part: Part, payer: str, pathway: str, lob: Any, requested: Any) -> int | None:
        key = (payer, pathway, lob, requested, part.request_type)
        if key not in self.months_cache:
            request = Request(id="diff", source="(diff)", date=self.space.today, payer=payer)
            if lob is not ABSENT:
                request.scalars["line_of_business"] = lob
            if requested is not ABSENT:
                request.scalars["requested_months"] = requested
            request.scalars["request_type"] = part.request_type
            self.months_cache[key] = self.decider.engine.approval_months(request, payer, pathway)
        return self.months_cache[key]

    def described(self, part: Part, outs: tuple) -> dict[str, dict[str, Any]]:
        return {p: self.describe_outcome(part, p, o) for p, o in zip(part.plans, outs, strict=True)}

    def describe_outcome(self, part: Part, payer: str, outcome: Outcome) -> dict[str, Any]:
        decision, pathway, targets = outcome
        out: dict[str, Any] = {"decision": decision, "pathway": pathway}
        if decision == "approve" and pathway:
            by_lob = {}
            for lob in part.lobs:
                got = {self.months(part, payer, pathway, lob, rm) for rm in self.rm_values}
                by_lob[label_lob(lob)] = sorted(m for m in got if m is not None)
            out["approval_months"] = by_lob  # every duration some requested duration gets
        if decision == "refer":
            out["refer_to"] = {label_lob(lob): t for lob, t in zip(part.lobs, targets, strict=False)}
        return out

    # regions ----------------------------------------------------------------------------------------
    def regions(self, part: Part, found: Found) -> PartResult:
        """Regions from a part's cover: outcomes in words, sizes, witnesses."""
        payers = list(part.plans)
        factor = len(part.lobs) * len(self.rm_values)
        variables = [(p, v) for p in payers for v in part.plans[p].variables]
        regions: list[Region] = []
        for cube in found.cubes:
            constraints = [(variables[j][0], variables[j][1], cube.allowed[j]) for j in range(len(variables))
                           if cube.allowed[j] != ALL]
            region = Region(part=part, outcomes=self.described(part, cube.outs),
                            constraints=constraints, size=cube.weight * factor,
                            group_size=found.group_weights[cube.outs] * factor)
            self._witness(region, cube.best, cube.vector, variables, cube.outs)
            regions.append(region)
        regions += self._duration_regions(part, found, variables, factor)
        return PartResult(part, found, found.weight * factor, regions)

    def _duration_regions(self, part: Part, found: Found, variables: list, factor: int) -> list[Region]:
        """Where every payer approves, the durations by line of business and requested duration."""
        payers = list(part.plans)
        regions = []
        for pathways, (weight, best, vector, outs) in found.approvals.items():
            rows = []
            for lob in part.lobs:
                for rm in self.rm_values:
                    months = [self.months(part, p, w, lob, rm) for p, w in zip(payers, pathways, strict=False)]
                    if len(set(months)) > 1:
                        rows.append({"line_of_business": label_lob(lob), "requested_months": _show(rm),
                                     "months": dict(zip(payers, months, strict=False)), "_lob": lob, "_rm": rm})
            if not rows:
                continue
            region = Region(part=part, outcomes=self.described(part, outs),
                            constraints=[], size=weight * len(rows), group_size=weight * factor, kind="duration",
                            durations=[{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
            self._witness(region, best, vector, variables, outs, lob=rows[0]["_lob"], requested=rows[0]["_rm"])
            regions.append(region)
        return regions

    # witnesses --------------------------------------------------------------------------------------
    def _witness(self, region: Region, chosen: dict[str, int], vector: tuple, variables: list, outs: tuple,
                 lob: Any = None, requested: Any = ABSENT) -> None:
        part = region.part
        assignment: dict[str, Any] = {f: part.classes[f][i].values[0] for f, i in chosen.items()}
        assignment[part.key] = part.condition
        lob = part.lobs[0] if lob is None else lob
        assignment["line_of_business"] = lob
        if requested is not ABSENT:
            assignment["requested_months"] = requested
        doc = self.space.document(assignment, request_id="witness", request_type=part.request_type)
        region.witness = doc
        region.witness_statuses = defaultdict(dict)
        for (p, v), s in zip(variables, vector, strict=False):
            region.witness_statuses[p][v] = s
        region.witness_statuses = dict(region.witness_statuses)
        region.expected = {p: self._expected(part, p, o, lob, requested)
                           for p, o in zip(part.plans, outs, strict=True)}

    def _expected(self, part: Part, payer: str, outcome: Outcome, lob: Any, requested: Any) -> dict[str, Any]:
        decision, pathway, targets = outcome
        months = self.months(part, payer, pathway, lob, requested) if decision == "approve" and pathway else None
        refer_to = dict(zip(part.lobs, targets, strict=False)).get(lob) if decision == "refer" else None
        return {"decision": decision, "pathway": pathway, "approval_months": months, "refer_to": refer_to}

    def replay(self, region: Region) -> None:
        """Decide the witness with the engine (Datalog, not the plan) and check it shows the region."""
        try:
            request = self.decider.parse(region.witness, "(witness)")
            got = self.decider.engine.decide_many(request, list(region.part.plans))
        except RequestError as exc:
            region.replayed, region.replay_note = False, str(exc)
            return
        notes = []
        for payer, d in got.items():
            want = region.expected[payer]
            have = {"decision": d.decision, "pathway": d.pathway, "approval_months": d.months, "refer_to": d.refer_to}
            if have != want:
                notes.append(f"{payer}: {have} instead of {want}")
        for payer, node, allowed in region.constraints:
            status = got[payer].status.get(node)
            if status not in allowed:
                notes.append(f"{payer} {node} is {status}, not {'/'.join(sorted(allowed))}")
        region.replayed, region.replay_note = not notes, "; ".join(notes)


def label_lob(lob: Any) -> str:
    return "not given" if lob is ABSENT else str(lob)


def _show(value: Any) -> Any:
    return None if value is ABSENT else value


# ---------------------------------------------------------------------------------------------------------
# A whole diff
# ---------------------------------------------------------------------------------------------------------
@dataclass
class DiffResult:
    markets: list[str]
    parts: list[PartResult]
    seconds: float
    jobs: int
    scenario_dirs: dict[str, str]
    kb: Any = None  # the kb as recorded (KnowledgeBase), for the report's words
    payers: list[str] = field(default_factory=list)


def scenario_name(path: Path) -> str:
    return path.name.removesuffix(".dl")


def run_diff(kb_dirs: list[Path] | None, scenarios: list[Path], conditions: list[str] | None,
             today: dt.date | None, jobs: int, payers: list[str] | None = None,
             track: Track = untracked) -> DiffResult:
    """Diff the kb as recorded and under each scenario; a scenario reports only the regions it adds.
    `track` sees the parts and then the witnesses go by (the command line's progress bar)."""
    import time

    start = time.perf_counter()
    markets: list[tuple[str, Differ]] = []
    base_dirs = list(kb_dirs) if kb_dirs else None
    markets.append((RECORDED, Differ(Decider(base_dirs, today), RECORDED, payers)))
    from ..core.kb import default_kb_dir

    for scenario in scenarios:
        dirs = [*(base_dirs or [default_kb_dir()]), scenario]
        markets.append((scenario_name(scenario), Differ(Decider(dirs, today), scenario_name(scenario), payers)))
    all_parts: list[tuple[Differ, Part]] = []
    for _name, differ in markets:
        chosen = differ.chosen(conditions) if conditions else differ.conditions()
        all_parts += [(differ, p) for p in differ.parts(chosen)]
    founds = enumerate_parts([p for _, p in all_parts], jobs, track)
    results: list[PartResult] = []
    seen: set[tuple] = set()
    to_replay: list[tuple[Differ, Region]] = []
    for (differ, part), found in zip(all_parts, founds, strict=True):
        result = differ.regions(part, found)
        key_regions = []
        for region in result.regions:
            key = _region_key(region)
            if part.market != RECORDED and key in seen:
                continue
            if part.market == RECORDED:
                seen.add(key)
            key_regions.append(region)
            to_replay.append((differ, region))
        result.regions = key_regions
        results.append(result)
    replay_all(to_replay, jobs, track)
    return DiffResult(markets=[m for m, _ in markets], parts=results, seconds=time.perf_counter() - start,
                      jobs=jobs, scenario_dirs={scenario_name(s): str(s) for s in scenarios},
                      kb=markets[0][1].decider.kb, payers=markets[0][1].payers)


_REPLAYS: list[tuple[Differ, Region]] = []


def _replay(index: int) -> tuple[int, bool | None, str]:
    differ, region = _REPLAYS[index]
    differ.replay(region)
    return index, region.replayed, region.replay_note


def replay_all(replays: list[tuple[Differ, Region]], jobs: int, track: Track = untracked) -> None:
    """Replay every witness through the engine, on `jobs` processes (fork). The replays come market by
    market and go out in contiguous chunks, so a worker reloads a market's kb (pyDatalog holds one) rarely."""
    global _REPLAYS
    if jobs <= 1 or len(replays) < 2 * jobs:
        for differ, region in track(replays, "replaying witnesses", len(replays)):
            differ.replay(region)
        return
    _REPLAYS = replays
    try:
        chunk = max(1, len(replays) // (4 * jobs))
        with multiprocessing.get_context("fork").Pool(jobs, initializer=quiet_worker, initargs=(os.getpid(),)) as pool:
            done = pool.imap_unordered(_replay, range(len(replays)), chunksize=chunk)
            for index, replayed, note in track(done, "replaying witnesses", len(replays)):
                region = replays[index][1]
                region.replayed, region.replay_note = replayed, note
    finally:
        _REPLAYS = []


def _region_key(region: Region) -> tuple:
    """Where a region parts the payers: its outcomes and the criteria it needs not met or not documented (the
    met ones are its context). A scenario region with the same key says nothing new."""
    part = region.part
    said = [(p, n, tuple(sorted(a))) for p, n, a in region.constraints if MET not in a]
    return (part.label, part.request_type, region.kind, repr(sorted(region.outcomes.items())),
            tuple(sorted(said)), repr(region.durations))

