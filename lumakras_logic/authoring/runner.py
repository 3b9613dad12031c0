"""`lumakras test`: run policy-author test cases (lumakras_logic/authoring/cases.py) like a test runner, and show
which statuses of which criteria the cases drive (`--coverage`).

Coverage compares what the cases reach with what the policy allows: the statuses some request can give
each criterion, found on the abstraction of the request space built from the kb (abstraction.py). A
status the policy allows and no case reaches is a gap to fill; one it does not allow is shown as such.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..core.api import Decider
from ..core.escape import one_line
from ..core.parallel import map_chunks
from ..core.stream import JsonObject, Spill
from .abstraction import STATUSES, build_space, node_ids
from .cases import Case, CaseError, load_cases, run_case_full

SHORT = {"met": "met", "not_met": "not_met", "not_documented": "not_doc"}


@dataclass
class Report:
    """What a run has found so far: the counts, the malformed files, and the statuses each node reached
    (a case's result is written as it runs and not kept: memory stays flat with the number of cases)."""

    passed: int = 0
    failed: int = 0
    malformed: list[str] = field(default_factory=list)
    files: int = 0
    reached: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))


@dataclass(frozen=True)
class Result:
    """One case run: passed when there is no difference."""

    name: str
    source: str
    problems: list[str]


def case_files(paths: list[Path]) -> list[Path]:
    """The YAML files under the given folders, or the files themselves."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml"))
        else:
            out.append(p)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Ran:
    """One case run (in a worker, perhaps): its result and the (payer, node, status) it reached, which is
    all the parent keeps of its derivations."""

    result: Result
    reached: list[tuple[str, str, str]]


def run_one(decider: Decider, case: Case) -> Ran:
    """Run one case: a pure function of the case and the loaded kb, so any process holding the kb can."""
    problems, derivations = run_case_full(decider, case)
    reached = [(payer, node, status) for payer, d in derivations.items() for node, status in d.status.items()]
    return Ran(Result(case.name, str(case.source), problems), reached)


def run_cases(decider: Decider, paths: list[Path], report: Report, root: Path | None = None, jobs: int = 1
              ) -> Iterator[Result | CaseError]:
    """Each case's result as it runs, file by file in order, and each malformed file's error in its
    place; `report` keeps the counts and the statuses reached. With `jobs` > 1 the cases run in chunks on
    forked workers (core/parallel.py); the files are still read here, and the results come in order."""

    def entries() -> Iterator[Case | CaseError]:
        for path in case_files(paths):
            report.files += 1
            try:
                yield from load_cases(path, root)
            except CaseError as exc:
                report.malformed.append(str(exc))
                yield exc

    def step(chunk: list[Case | CaseError]) -> list[Ran | CaseError]:
        return [e if isinstance(e, CaseError) else run_one(decider, e) for e in chunk]

    for ran in map_chunks(step, entries(), jobs):
        if isinstance(ran, CaseError):
            yield ran
            continue
        if ran.result.problems:
            report.failed += 1
        else:
            report.passed += 1
        for payer, node, status in ran.reached:
            report.reached[(payer, node)].add(status)
        yield ran.result


def run_files(decider: Decider, paths: list[Path], root: Path | None = None) -> Report:
    """Run every case (for a caller that only wants the counts and the coverage)."""
    report = Report()
    for _result in run_cases(decider, paths, report, root):
        pass
    return report


def coverage(decider: Decider, reached: dict[tuple[str, str], set[str]],
             payers: list[str] | None = None) -> list[dict[str, Any]]:
    """Per payer and node: the statuses the policy allows, those the cases reach, and the gaps."""
    space = build_space(decider)
    rows: list[dict[str, Any]] = []
    for payer in payers or decider.kb.payers():
        for node_id in node_ids(space, payer):
            allowed = space.reachable(payer, node_id)
            got = reached.get((payer, node_id), set())
            rows.append({"payer": payer, "criterion": node_id,
                         "allowed": [s for s in STATUSES if s in allowed],
                         "reached": [s for s in STATUSES if s in got],
                         "gaps": [s for s in STATUSES if s in allowed and s not in got]})
    return rows


def render_coverage(rows: list[dict[str, Any]]) -> str:
    """A table per payer: ✔ reached, ✘ a gap (allowed, never reached), · not allowed by the policy."""
    out: list[str] = []
    by_payer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_payer[r["payer"]].append(r)
    for payer, items in by_payer.items():
        width = max(len(r["criterion"]) for r in items)
        allowed = sum(len(r["allowed"]) for r in items)
        reached = sum(len(r["allowed"]) - len(r["gaps"]) for r in items)
        out.append(f"{payer}: {reached} of {allowed} statuses the policy allows are driven by the cases "
                   f"({len(items)} criteria)")
        out.append(f"  {'criterion':<{width}}  " + "  ".join(f"{SHORT[s]:<7}" for s in STATUSES))
        for r in items:
            marks = []
            for s in STATUSES:
                mark = "✔" if s in r["reached"] else ("✘ gap" if s in r["gaps"] else "·")
                marks.append(f"{mark:<7}")
            out.append(f"  {r['criterion']:<{width}}  " + "  ".join(marks).rstrip())
        gaps = [f"{r['criterion']} never {s}" for r in items for s in r["gaps"]]
        out.append(f"  gaps: {'; '.join(gaps)}" if gaps else "  no gaps")
        out.append("")
    out.append("✔ driven by a case   ✘ gap: allowed by the policy, driven by no case   · not allowed by the policy")
    return "\n".join(out)




def echo(text: str) -> None:
    click.echo(text, nl=False)


def write_text(results: Iterable[Result | CaseError], verbose: bool) -> None:
    """For people, as the cases run: each failure with its differences (-v: each pass too); a malformed
    file is one line on stderr."""
    for r in results:
        if isinstance(r, CaseError):
            click.echo(f"lumakras: {r}", err=True)
        elif r.problems:
            click.echo(one_line(f"FAIL  {r.source}: {r.name}"))
            for problem in r.problems:
                click.echo(one_line(f"        {problem}"))
        elif verbose:
            click.echo(one_line(f"PASS  {r.source}: {r.name}"))


def write_json(results: Iterable[Result | CaseError], tail: Callable[[], dict[str, Any]]) -> None:
    """{"passed": [names], "failed": [{case, file, differences}], "malformed": [...], "coverage"?}: the
    passes written as the cases run, the failures kept in a temporary file until then; a malformed file is
    also one line on stderr."""
    body = JsonObject(echo)
    passed = body.array("passed")
    with Spill() as failed:
        for r in results:
            if isinstance(r, CaseError):
                click.echo(f"lumakras: {r}", err=True)
            elif r.problems:
                failed.add({"case": r.name, "file": r.source, "differences": r.problems})
            else:
                passed.add(r.name)
        passed.close()
        array = body.array("failed")
        for f in failed:
            array.add(f)
        array.close()
    for key, value in tail().items():
        body.field(key, value)
    body.close()
