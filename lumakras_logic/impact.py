"""`lumakras impact`: what a kb change does to decisions.

Every case (a request file, or one case of a policy case file) is decided under the old kb and under the
new one, and each (case, payer) whose decision, pathway, duration, referral or reasons changed is listed
with the before and after. Nothing here knows a payer or a criterion: the criteria compared are those the
answers name, their statuses come from the derivations, and the reasons from the explainer.

pyDatalog holds one kb at a time (KnowledgeBase.activate reloads on a switch), so every case is decided
under the old kb first and then every case under the new one, never one case under both in turn.

Requests are parsed once, independently of either kb: a payer the request names is checked against each
kb when it is decided, so a payer that only one kb knows is a reported change, not a bad request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .api import Decider
from .cases import CaseError, load_cases
from .cliutil import EXIT_BAD_INPUT, EXIT_BAD_KB, EXIT_OK, EXIT_PROBLEMS, fail
from .engine import Derivation
from .explain import Explainer
from .kb import KbError, kb_files, natural_key
from .request import _HANDLED_TOP, Request, RequestError, parse_request, read_document, token_key

SUFFIXES = (".yaml", ".yml", ".json")
# The kinds of change, in the order they are shown; a (case, payer) may have several.
KINDS = ("payer", "decision", "pathway", "duration", "refer_to", "reasons")
DASH = "—"


# ----------------------------------------------------------------------------------------------------------
# What is re-decided
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One case to re-decide: a request file, or one case of a case file. Parsed once, for both kbs."""

    name: str  # the request's id, or the case's name: how a person finds it again
    source: str  # the file it came from
    kind: str  # 'request' | 'case'
    request: Request
    payers: list[str] | None = None  # a case: the payers its expect names
    expected_errors: dict[str, str] = field(default_factory=dict)  # a case: payer -> field it expects rejected


def input_files(paths: list[Path]) -> tuple[list[tuple[Path, bool]], list[str]]:
    """(file, given by name) for each argument, folders searched recursively; and one line per missing path.
    A file given by name is always meant as input; one found in a folder may be skipped if clearly not."""
    out: list[tuple[Path, bool]] = []
    errors: list[str] = []
    for p in paths:
        if p.is_dir():
            out += [(q, False) for q in sorted(p.rglob("*")) if q.is_file() and q.suffix.lower() in SUFFIXES]
        elif p.exists():
            out.append((p, True))
        else:
            errors.append(f"{p}: no such request, case file or folder")
    return list(dict.fromkeys(out)), errors


def is_case_file(doc: Any) -> bool:
    """A case file (cases.py) has a `cases:` list, or is one case: request or request_file, and expect.
    A request document has neither key (REQUESTS.md), so content alone tells them apart."""
    if not isinstance(doc, dict):
        return False
    return "cases" in doc or ("expect" in doc and ("request" in doc or "request_file" in doc))


def looks_like_request(doc: Any) -> bool:
    """Whether a document found in a folder is meant as a request: a mapping with at least one field of
    REQUESTS.md. Anything else (a list, an empty file, some tool's config) is clearly not one."""
    return isinstance(doc, dict) and any(key in _HANDLED_TOP for key in doc)


def parse_once(doc: Any, source: str, today: dt.date | None) -> Request:
    """Parse a request without asking either kb which payers exist: the payer it names is accepted here
    and checked against each kb when decided (a payer added by the change is a change, not an error)."""
    own = doc.get("payer") if isinstance(doc, dict) else None
    payers = (token_key(own),) if isinstance(own, str) and own.strip() else ()
    return parse_request(doc, source, payers, today)


def case_items(path: Path, root: Path, today: dt.date | None) -> tuple[list[Item], list[str]]:
    """The cases of a case file, read by cases.py; a case whose request cannot be read is one error line
    and the file's other cases still go on."""
    try:
        cases = load_cases(path, root)
    except CaseError as exc:
        return [], [str(exc)]
    items: list[Item] = []
    errors: list[str] = []
    for case in cases:
        try:
            if isinstance(case.request, Path):
                request = parse_once(read_document(case.request), str(case.request), today)
            else:
                request = parse_once(case.request, str(case.source), today)
        except RequestError as exc:
            errors.append(f"{exc} (case {case.name!r})")
            continue
        expected = {p: str(w["error"]) for p, w in case.expect.items() if "error" in w}
        items.append(Item(case.name, str(case.source), "case", request, list(case.expect), expected))
    return items, errors


def collect(paths: list[Path], root: Path, today: dt.date | None) -> tuple[list[Item], list[str], list[str]]:
    """(items, one-line errors, skipped files) of the CASES arguments, in the order given."""
    files, errors = input_files(paths)
    items: list[Item] = []
    skipped: list[str] = []
    for path, named in files:
        try:
            doc = read_document(path)
        except RequestError as exc:
            errors.append(str(exc))
            continue
        if is_case_file(doc):
            found, problems = case_items(path, root, today)
            items += found
            errors += problems
        elif not named and not looks_like_request(doc):
            skipped.append(str(path))
        else:
            try:
                request = parse_once(doc, str(path), today)
            except RequestError as exc:
                errors.append(str(exc))
                continue
            items.append(Item(request.id, str(path), "request", request))
    return items, errors, skipped


# ----------------------------------------------------------------------------------------------------------
# Deciding under one kb
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What one kb said about one item under one payer: an answer, a rejection, or nothing (a payer this
    kb does not know). The derivation and explainer are kept to explain criteria the other side names."""

    known: bool
    answer: dict[str, Any] | None = None
    derivation: Derivation | None = None
    explainer: Explainer | None = None
    error: RequestError | None = None
    _because: dict[str, list[str]] = field(default_factory=dict)

    def remember(self, reasons: dict[str, list[str] | None]) -> None:
        """Take the reasons the answer already gives, so that only the criteria it does not name are
        explained again (a closest pathway, named without reasons, is explained when asked)."""
        for node_id, because in reasons.items():
            if because is not None:
                self._because.setdefault(node_id, because)

    def criterion(self, node_id: str) -> tuple[str | None, list[str]]:
        """(status, because) of a node under this kb; (None, []) when this kb has no such node."""
        d = self.derivation
        if d is None or node_id not in d.status:
            return None, []
        if node_id not in self._because:
            assert self.explainer is not None
            self._because[node_id] = list(self.explainer.criterion(d, node_id).get("because", []))
        return d.status[node_id], self._because[node_id]


def payers_for(item: Item, kb_payers: tuple[str, ...], payer: str | None) -> list[str]:
    """--payer, else the case's expect payers, else the request's own payer; a request that names none
    is decided under every payer of the kb (an impact is about every payer it may concern)."""
    if payer == "all":
        return list(kb_payers)
    if payer:
        return [payer]
    if item.payers is not None:
        return item.payers
    return [item.request.payer] if item.request.payer else list(kb_payers)


def decide_all(decider: Decider, items: list[Item], payer: str | None,
               side: str) -> dict[tuple[int, str], Verdict]:
    """Every item under this kb, keyed by (item index, payer); a kb that fails on a request exits 3."""
    out: dict[tuple[int, str], Verdict] = {}
    kb_payers = decider.kb.payers()
    try:
        for index, item in enumerate(items):
            checked: list[str] = []
            for p in payers_for(item, kb_payers, payer):
                if p not in kb_payers:
                    out[(index, p)] = Verdict(known=False)
                    continue
                try:
                    decider.engine.check(item.request, p)
                    checked.append(p)
                except RequestError as exc:
                    out[(index, p)] = Verdict(known=True, error=exc)
            if checked:
                for p, d in decider.engine.decide_many(item.request, checked).items():
                    out[(index, p)] = Verdict(True, decider.explainer.answer(d), d, decider.explainer)
    except KbError as exc:
        fail(f"knowledge base ({side}, --{side}): {exc}", EXIT_BAD_KB)
    return out


def load_side(dirs: tuple[Path, ...], today: dt.date | None, side: str) -> Decider:
    """Load one side's kb; one that cannot load exits 3, naming which side it is."""
    try:
        return Decider(list(dirs), today)
    except KbError as exc:
        fail(f"knowledge base ({side}, --{side}): {exc}", EXIT_BAD_KB)


def precheck(dirs: tuple[Path, ...], side: str) -> None:
    """A missing kb folder fails at once, before the other side spends time deciding."""
    try:
        kb_files(list(dirs))
    except KbError as exc:
        fail(f"knowledge base ({side}, --{side}): {exc}", EXIT_BAD_KB)


# ----------------------------------------------------------------------------------------------------------
# Comparing
# ----------------------------------------------------------------------------------------------------------


def snapshot(v: Verdict) -> dict[str, Any] | None:
    """The compared part of an answer (None: the payer is not in this kb)."""
    if not v.known:
        return None
    if v.error is not None:
        return {"decision": None, "pathway": None, "approval_months": None, "refer_to": None, "refer_by": None,
                "to_document": [], "unclassified": [], "error": f"{v.error.field}: {v.error.message}"}
    a = v.answer or {}
    return {"decision": a["decision"], "pathway": a["pathway"], "approval_months": a["approval_months"],
            "refer_to": a["refer_to"], "refer_by": a.get("refer_by"),
            "to_document": sorted({f"{t['criterion']}: {t['field']}" for t in a["to_document"]}),
            "unclassified": sorted(u["name"] for u in a.get("unclassified", [])), "error": None}


def answer_reasons(answer: dict[str, Any] | None) -> dict[str, list[str] | None]:
    """Every criterion id an answer names, with its `because` (None for a closest pathway, which the
    answer gives no reasons of): the derived pathway's criteria, the closest pathways and their criteria,
    with their parts at any depth."""
    found: dict[str, list[str] | None] = {}

    def walk(entry: dict[str, Any]) -> None:
        found.setdefault(entry["id"], list(entry.get("because", [])))
        for part in entry.get("parts", []):
            walk(part)

    for entry in (answer or {}).get("criteria", []):
        walk(entry)
    for near in (answer or {}).get("closest", []):
        found.setdefault(near["pathway"], None)
        for entry in near["criteria"]:
            walk(entry)
    return found


def criteria_changes(before: Verdict, after: Verdict) -> list[dict[str, Any]]:
    """Each criterion either answer names whose status or reasons differ. The status is read from each
    derivation, so a criterion the new answer no longer lists still shows what it became."""
    out: list[dict[str, Any]] = []
    ids: set[str] = set()
    for v in (before, after):
        named = answer_reasons(v.answer)
        v.remember(named)
        ids |= set(named)
    for node_id in sorted(ids, key=natural_key):
        s1, b1 = before.criterion(node_id)
        s2, b2 = after.criterion(node_id)
        if s1 != s2 or b1 != b2:
            out.append({"id": node_id, "before": s1, "after": s2, "because_before": b1, "because_after": b2})
    return out


def changed_kinds(old: dict[str, Any], new: dict[str, Any], criteria: list[dict[str, Any]]) -> list[str]:
    """Which kinds of change two snapshots of a known payer show."""
    kinds = []
    if (old["decision"], old["error"]) != (new["decision"], new["error"]):
        kinds.append("decision")
    if old["pathway"] != new["pathway"]:
        kinds.append("pathway")
    if old["approval_months"] != new["approval_months"]:
        kinds.append("duration")
    if (old["refer_to"], old["refer_by"]) != (new["refer_to"], new["refer_by"]):
        kinds.append("refer_to")
    if criteria or old["to_document"] != new["to_document"] or old["unclassified"] != new["unclassified"]:
        kinds.append("reasons")
    return kinds


def compare(item: Item, payer: str, before: Verdict, after: Verdict) -> dict[str, Any]:
    """One (case, payer) compared: the change record of the JSON output ('changed' empty: unchanged)."""
    old, new = snapshot(before), snapshot(after)
    record: dict[str, Any] = {"case": item.name, "source": item.source, "kind": item.kind, "payer": payer,
                              "changed": [], "before": old, "after": new, "criteria": []}
    if old is None or new is None:
        record["changed"] = ["payer"] if old != new else []
        return record
    record["criteria"] = criteria_changes(before, after) if before.answer and after.answer else []
    record["changed"] = changed_kinds(old, new, record["criteria"])
    return record


def bad_input(item: Item, payer: str, before: Verdict, after: Verdict) -> str | None:
    """The one-line error when both kbs reject the request alike and no case expects it, or neither kb
    knows the payer: input to fix, not an effect of the change."""
    if not before.known and not after.known:
        return f"{item.source}: payer: unknown payer {payer!r}; neither kb has it" + \
            (f" (case {item.name!r})" if item.kind == "case" else "")
    if before.error is None or after.error is None or str(before.error) != str(after.error):
        return None
    if item.expected_errors.get(payer) == before.error.field:
        return None
    return str(before.error) + (f" (case {item.name!r})" if item.kind == "case" else "")


@dataclass
class Impact:
    """The outcome of a run: every change, the unchanged answers and the bad input."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cases: int = 0
    payers: set[str] = field(default_factory=set)


def keys_in_order(*sides: dict[tuple[int, str], Verdict]) -> list[tuple[int, str]]:
    """The (item, payer) pairs either side decided: item by item, then payer by payer."""
    return sorted({k for side in sides for k in side})


def compare_all(items: list[Item], old: dict[tuple[int, str], Verdict],
                new: dict[tuple[int, str], Verdict]) -> Impact:
    """Compare every (item, payer) pair; a pair one side did not decide is a payer only the other knows."""
    impact = Impact()
    counted: set[int] = set()
    for index, payer in keys_in_order(old, new):
        item = items[index]
        before, after = old.get((index, payer), Verdict(False)), new.get((index, payer), Verdict(False))
        error = bad_input(item, payer, before, after)
        if error is not None:
            if error not in impact.errors:
                impact.errors.append(error)
            continue
        counted.add(index)
        impact.payers.add(payer)
        record = compare(item, payer, before, after)
        (impact.changes if record["changed"] else impact.unchanged).append(record)
    impact.cases = len(counted)
    return impact


# ----------------------------------------------------------------------------------------------------------
# The kbs themselves
# ----------------------------------------------------------------------------------------------------------


def kb_file_digests(dirs: tuple[Path, ...]) -> dict[str, tuple[str, str]]:
    """file name within its kb folder -> (path as given, sha256), so that kb-v1/x.dl matches kb/x.dl; a
    name two folders of one kb share keeps its folder to stay apart."""
    found: list[tuple[str, Path, Path]] = []  # (name within the folder, folder, file)
    for d in dirs:
        if d.is_file():
            found.append((d.name, d.parent, d))
        else:
            found += [(f.relative_to(d).as_posix(), d, f) for f in sorted(d.rglob("*.dl"))]
    names = [name for name, _d, _f in found]
    out: dict[str, tuple[str, str]] = {}
    for name, folder, path in found:
        key = f"{folder.resolve().name}/{name}" if names.count(name) > 1 else name
        out[key] = (str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def payer_keys(decider: Decider, files: dict[str, tuple[str, str]]) -> dict[str, set[str]]:
    """Per payer, the names (as kb_file_digests gives them) of the files that decide its requests."""
    by_path = {Path(path).resolve(): key for key, (path, _sha) in files.items()}
    out: dict[str, set[str]] = {}
    for p in decider.kb.payers():
        paths = (Path(name).resolve() for name in decider.kb.payer_files(p))
        out[p] = {by_path[f] for f in paths if f in by_path}
    return out


def file_changes(old: Decider, new: Decider, old_dirs: tuple[Path, ...],
                 new_dirs: tuple[Path, ...]) -> dict[str, Any]:
    """Which kb files the change added, removed or edited (by sha256 of their contents), and per payer
    known to both kbs, which of those decide its requests (a payer digest also names the kb folder, so
    it moves when the folder is renamed; this says whether the contents did)."""
    a, b = kb_file_digests(old_dirs), kb_file_digests(new_dirs)
    touched = {k for k in a.keys() | b.keys() if (k in a) != (k in b) or a[k][1] != b[k][1]}
    shown = {k: (b.get(k) or a[k])[0] for k in touched}
    pa, pb = payer_keys(old, a), payer_keys(new, b)
    return {"added": [b[k][0] for k in b if k not in a],
            "removed": [a[k][0] for k in a if k not in b],
            "changed": [b[k][0] for k in b if k in a and a[k][1] != b[k][1]],
            "by_payer": {p: sorted(shown[k] for k in (pa[p] | pb[p]) & touched) for p in sorted(pa.keys() & pb.keys())}}


def provenance(decider: Decider, dirs: tuple[Path, ...]) -> dict[str, Any]:
    """One side's kb as answers cite it: its folders, overall digest and, per payer, the policy's id,
    revision and the digest of the files that decide that payer's requests."""
    kb = decider.kb
    return {"kb": [str(d) for d in dirs], "digest": kb.digest, "files": len(kb.file_digests),
            "payers": {p: {"policy": kb.policies[p].id, "revision": kb.policies[p].revision,
                           "kb_digest": decider.explainer.digest(p)} for p in kb.payers()}}


def summary(impact: Impact) -> dict[str, Any]:
    """The counts of the run: answers compared, changed by kind, unchanged, bad input."""
    by_kind = {k: sum(k in c["changed"] for c in impact.changes) for k in KINDS}
    return {"cases": impact.cases, "payers": len(impact.payers),
            "answers": len(impact.changes) + len(impact.unchanged), "changed": len(impact.changes),
            **by_kind, "unchanged": len(impact.unchanged), "errors": len(impact.errors)}


# ----------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------


@click.command("impact")
@click.argument("cases", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--old", "old_dirs", multiple=True, required=True, type=click.Path(path_type=Path),
              metavar="KB_DIR", help="The kb before the change: a folder or .dl file (repeatable, like --kb).")
@click.option("--new", "new_dirs", multiple=True, required=True, type=click.Path(path_type=Path),
              metavar="KB_DIR", help="The kb after the change (repeatable, like --kb).")
@click.option("--payer", type=str, default=None,
              help="A payer of either kb, or all (default: the request's own payer; a case's expect payers; "
                   "every payer for a request that names none).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="text for people, markdown for a pull request, json for programs.")
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("-v", "--verbose", is_flag=True, help="Also list the unchanged cases and the skipped files.")
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when any case changed (for CI).")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Decide requests without a date as of this day (default: today).")
def impact_command(cases: tuple[Path, ...], old_dirs: tuple[Path, ...], new_dirs: tuple[Path, ...],
                   payer: str | None, fmt: str, as_json: bool, verbose: bool, fail_on_change: bool,
                   today: dt.datetime | None) -> None:
    """Show what a kb change does: decide CASES under the --old and the --new kb, and list every case
    whose decision, pathway, duration, referral or reasons changed, with the before and after.

    CASES are requests (YAML or JSON), case files (a `cases:` list, as in tests/cases) and folders of
    them, searched recursively. A changed criterion is shown with its status and reasons before and
    after; unchanged cases are only counted (-v lists them). The counts, the kb files that changed and
    each payer's kb digest come at the end. A payer only one kb has is reported as a change.

    Exit status 0 the run completed (changes or not), 1 with --fail-on-change when a case changed, 2 a
    request or case file could not be read (one line naming the file and field; the others are still
    compared), 3 a kb cannot be loaded.

    \b
    Examples:
      git worktree add /tmp/before HEAD
      lumakras impact --old /tmp/before/kb --new kb queries/ tests/cases
      lumakras impact --old kb --new kb --new my-payer/ --payer all queries/
      lumakras impact --old /tmp/before/kb --new kb tests/cases --format markdown --fail-on-change
    """
    day = today.date() if today is not None else None
    precheck(old_dirs, "old")
    precheck(new_dirs, "new")
    items, errors, skipped = collect(list(cases), Path.cwd(), day)
    old = load_side(old_dirs, day, "old")
    before = decide_all(old, items, payer, "old")
    new = load_side(new_dirs, day, "new")
    known = set(old.kb.payers()) | set(new.kb.payers())
    if payer not in (None, "all") and payer not in known:
        fail(f"--payer: unknown payer {payer!r}; one of {', '.join([*sorted(known), 'all'])}")
    after = decide_all(new, items, payer, "new")
    impact = compare_all(items, before, after)
    impact.errors = errors + impact.errors
    impact.skipped = skipped
    for error in impact.errors:
        click.echo(f"lumakras: {error}", err=True)
    from .impact_render import RENDER  # the output reads this module's Impact: imported here, not above

    render = RENDER["json" if as_json else fmt]
    files = file_changes(old, new, old_dirs, new_dirs)
    click.echo(render(impact, provenance(old, old_dirs), provenance(new, new_dirs), files, verbose))
    if impact.errors:
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(EXIT_PROBLEMS if fail_on_change and impact.changes else EXIT_OK)

