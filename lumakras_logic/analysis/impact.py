"""`lumakras impact`: what a kb change does to decisions.

Every case (a request file, or one case of a policy case file) is decided under the old kb and under the
new one, and each (case, payer) whose decision, pathway, duration, referral or reasons changed is listed
with the before and after. Nothing here knows a payer or a criterion: the criteria compared are those the
answers name, their statuses come from the derivations, and the reasons from the explainer.

pyDatalog holds one kb per process, so the old kb is loaded, then a child process is forked that keeps
it (OldSide), and this process loads the new one. Each case is read once, sent to the child, decided here
under the new kb while the child decides it under the old, and compared as soon as both answers are in:
the report is written as it is made and memory stays flat with the number of cases (nothing of a case
is kept once it is compared; the unchanged cases -v lists wait in a temporary file).

Requests are parsed once, independently of either kb: a payer the request names is checked against each
kb when it is decided, so a payer that only one kb knows is a reported change, not a bad request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import click

from ..authoring.cases import CaseError, load_cases
from ..core.answer import Answer, Criterion
from ..core.api import Decider
from ..core.engine import Derivation
from ..core.exits import EXIT_BAD_KB, fail, quiet_worker
from ..core.kb import KbError, kb_files, natural_key
from ..core.parallel import map_chunks
from ..core.request import (
    REQUEST_SUFFIXES,
    TOP_FIELDS,
    Request,
    RequestError,
    parse_document,
    parse_request,
    read_document,
    token_key,
)

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
            out += [(q, False) for q in sorted(p.rglob("*")) if q.is_file() and q.suffix.lower() in REQUEST_SUFFIXES]
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
    REQUESTS.md, or a FHIR Bundle or QuestionnaireResponse (docs/fhir.md). Anything else (a list, an
    empty file, some tool's config, another FHIR resource) is clearly not one."""
    if isinstance(doc, dict) and "resourceType" in doc:
        return doc["resourceType"] in ("Bundle", "QuestionnaireResponse")
    return isinstance(doc, dict) and any(key in TOP_FIELDS for key in doc)


def parse_once(doc: Any, source: str, today: dt.date | None, kb: Any = None) -> Request:
    """Parse a request without asking either kb which payers exist: the payer it names is accepted here
    and checked against each kb when decided (a payer added by the change is a change, not an error). A
    FHIR input is read with the code tables of `kb`, the new kb's: both sides decide the same request, so a
    change of what a code means is not seen here; `lumakras convert` under each kb shows it (docs/fhir.md)."""
    if isinstance(doc, dict) and "resourceType" in doc:
        payers = tuple(kb.payers()) if kb is not None else ()
        return parse_document(doc, source, payers, today, kb)
    own = doc.get("payer") if isinstance(doc, dict) else None
    payers = (token_key(own),) if isinstance(own, str) and own.strip() else ()
    return parse_request(doc, source, payers, today)


def case_items(path: Path, root: Path, today: dt.date | None, kb: Any = None) -> tuple[list[Item], list[str]]:
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
                request = parse_once(read_document(case.request), str(case.request), today, kb)
            else:
                request = parse_once(case.request, str(case.source), today)
        except RequestError as exc:
            errors.append(f"{exc} (case {case.name!r})")
            continue
        expected = {p: str(w["error"]) for p, w in case.expect.items() if "error" in w}
        items.append(Item(case.name, str(case.source), "case", request, list(case.expect), expected))
    return items, errors


def read_inputs(paths: list[Path], root: Path, today: dt.date | None,
                kb: Any = None) -> Iterator[Item | Problem | Skipped]:
    """The CASES arguments in the order given, one file at a time: each case to re-decide, each one-line
    error (a missing path, a file or case that cannot be read) and each file skipped as not meant."""
    files, errors = input_files(paths)
    yield from (Problem(e) for e in errors)
    for path, named in files:
        try:
            doc = read_document(path)
        except RequestError as exc:
            yield Problem(str(exc))
            continue
        if is_case_file(doc):
            found, problems = case_items(path, root, today, kb)
            yield from (Problem(e) for e in problems)
            yield from found
        elif not named and not looks_like_request(doc):
            yield Skipped(str(path))
        else:
            try:
                request = parse_once(doc, str(path), today, kb)
            except RequestError as exc:
                yield Problem(str(exc))
                continue
            yield Item(request.id, str(path), "request", request)


@dataclass(frozen=True)
class Problem:
    """A one-line error of the input: reported, and the other cases still compared."""

    text: str


@dataclass(frozen=True)
class Skipped:
    """A file found in a folder that is clearly not a request or case file."""

    path: str


# ----------------------------------------------------------------------------------------------------------
# Deciding under one kb
# ----------------------------------------------------------------------------------------------------------

Explain = Callable[[list[str]], dict[str, list[str]]]  # node ids -> their `because`, under one kb


@dataclass
class Verdict:
    """What one kb said about one item under one payer: an answer, a rejection, or nothing (a payer this
    kb does not know). `explain` gives the reasons of criteria the answer does not name (asked only for
    those the other side names), from this process's derivation or from the old kb's process."""

    known: bool
    answer: Answer | None = None
    status: dict[str, str] = field(default_factory=dict)  # node -> status, from the derivation
    error: RequestError | None = None
    explain: Explain | None = None
    _because: dict[str, list[str]] = field(default_factory=dict)

    def remember(self, reasons: dict[str, list[str] | None]) -> None:
        """Take the reasons the answer already gives, so that only the criteria it does not name are
        explained again (a closest pathway, named without reasons, is explained when asked)."""
        for node_id, because in reasons.items():
            if because is not None:
                self._because.setdefault(node_id, because)

    def complete(self, node_ids: Iterable[str]) -> None:
        """Fetch, in one call, the reasons of the nodes among `node_ids` this kb has and has not explained."""
        wanted = [n for n in node_ids if n in self.status and n not in self._because]
        if wanted and self.explain is not None:
            self._because.update(self.explain(wanted))

    def criterion(self, node_id: str) -> tuple[str | None, list[str]]:
        """(status, because) of a node under this kb; (None, []) when this kb has no such node."""
        if node_id not in self.status:
            return None, []
        self.complete([node_id])
        return self.status[node_id], self._because.get(node_id, [])


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


def decide_item(decider: Decider, item: Item, payer: str | None) -> dict[str, tuple[Verdict, Derivation | None]]:
    """One item under this kb: per payer, the verdict and the derivation it was explained from (a KbError,
    the kb failing on a request, is left to the caller)."""
    out: dict[str, tuple[Verdict, Derivation | None]] = {}
    kb_payers = decider.kb.payers()
    checked: list[str] = []
    for p in payers_for(item, kb_payers, payer):
        if p not in kb_payers:
            out[p] = (Verdict(known=False), None)
            continue
        try:
            decider.engine.check(item.request, p)
            checked.append(p)
        except RequestError as exc:
            out[p] = (Verdict(known=True, error=exc), None)
    if checked:
        for p, d in decider.engine.decide_many(item.request, checked).items():
            out[p] = (Verdict(True, decider.explainer.answer(d), dict(d.status)), d)
    return out


def explainer_of(decider: Decider, d: Derivation) -> Explain:
    """The reasons of any node of one derivation, as the explainer gives them."""
    return lambda ids: {n: list(decider.explainer.criterion(d, n).because) for n in ids}


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
# The old kb, in a process of its own
# ----------------------------------------------------------------------------------------------------------


def serve(conn: Connection, parent_end: Connection | None, decider: Decider | None, dirs: tuple[Path, ...],
          today: dt.date | None, payer: str | None) -> None:
    """The old kb's process: decide each item sent, keep its derivations until the next one, and explain
    any of their nodes when asked. Messages: ('decide', item) -> ('verdicts', {payer: verdict}) or
    ('kb_error', text); ('explain', payer, ids) -> {id: because}; ('stop',). It ends quietly when the
    parent's end of the pipe closes (the parent killed, or gone at a closed pipe), so it never outlives it."""
    quiet_worker()
    if parent_end is not None:
        parent_end.close()  # forked with the parent's end open: closed here, the parent's exit is our EOF
    if decider is None:  # no fork on this system: load the old kb here
        decider = Decider(list(dirs), today)
    kept: dict[str, Derivation | None] = {}
    try:
        while True:
            message = conn.recv()
            if message[0] == "stop":
                return
            if message[0] == "explain":
                d = kept.get(message[1])
                conn.send(explainer_of(decider, d)(message[2]) if d is not None else {})
                continue
            try:
                result = decide_item(decider, message[1], payer)
            except KbError as exc:
                conn.send(("kb_error", str(exc)))
                continue
            kept = {p: d for p, (_v, d) in result.items()}
            conn.send(("verdicts", {p: v for p, (v, _d) in result.items()}))
    except (EOFError, OSError):  # the parent is gone: nothing to answer
        return


class SideFailed(Exception):
    """A kb failed while deciding (its process stopped, or a leaf derived no row): the command exits 3
    with this one line. An exception, not an exit, so that it crosses from a worker process to the parent."""


class OldSide:
    """The old kb, deciding in a child process alongside this one (so both kbs are loaded at once, and
    the two processes decide a case at the same time). A child that dies is a kb failure (exit 3)."""

    def __init__(self, decider: Decider, dirs: tuple[Path, ...], today: dt.date | None, payer: str | None):
        forking = "fork" in multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if forking else "spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, daemon=True,
                                        args=(child, self._conn if forking else None,
                                              decider if forking else None, dirs, today, payer))
        self._process.start()
        child.close()

    def _call(self, message: tuple[Any, ...]) -> Any:
        try:
            self._conn.send(message)
            return self._conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            raise SideFailed("knowledge base (old, --old): its process stopped") from None

    def send(self, item: Item) -> None:
        """Start deciding an item; `receive` gives the verdicts."""
        try:
            self._conn.send(("decide", item))
        except (OSError, BrokenPipeError):
            raise SideFailed("knowledge base (old, --old): its process stopped") from None

    def receive(self) -> dict[str, Verdict]:
        try:
            kind, body = self._conn.recv()
        except (EOFError, OSError):
            raise SideFailed("knowledge base (old, --old): its process stopped") from None
        if kind == "kb_error":
            raise SideFailed(f"knowledge base (old, --old): {body}")
        for p, v in body.items():
            if v.answer is not None:
                v.explain = self._explainer(p)
        return body

    def _explainer(self, payer: str) -> Explain:
        return lambda ids: self._call(("explain", payer, ids))

    def close(self) -> None:
        """Stop the child (it ends on its own when this process ends, too: it is a daemon)."""
        if self._process.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self._conn.send(("stop",))
            self._process.join(timeout=2)
            if self._process.is_alive():
                self._process.kill()
        self._conn.close()


def decide_pairs(old: OldSide, new: Decider, items: Iterable[Item | Problem | Skipped], payer: str | None
                 ) -> Iterator[tuple[Item, dict[str, Verdict], dict[str, Verdict]] | Problem | Skipped]:
    """Each item decided under both kbs at once (old in its process, new here), in input order; the
    errors and skipped files pass through in their place."""
    for item in items:
        if not isinstance(item, Item):
            yield item
            continue
        old.send(item)
        try:
            mine = decide_item(new, item, payer)
        except KbError as exc:
            raise SideFailed(f"knowledge base (new, --new): {exc}") from None
        after = {}
        for p, (v, d) in mine.items():
            if d is not None:
                v.explain = explainer_of(new, d)
            after[p] = v
        yield item, old.receive(), after


class Pairs:
    """--jobs N: N old-kb processes (OldSide, forked while the old kb is loaded), each paired with one worker
    forked later from the new kb (core/parallel.py's map_chunks). A worker claims its old side on its first
    chunk, and decides and compares whole chunks of items there; this process only reads and reports."""

    def __init__(self, decider: Decider, dirs: tuple[Path, ...], today: dt.date | None, payer: str | None,
                 n: int) -> None:
        self.sides = [OldSide(decider, dirs, today, payer) for _ in range(n)]
        self.free = multiprocessing.get_context("fork").SimpleQueue()  # inherited by the workers
        for i in range(n):
            self.free.put(i)
        self.mine: OldSide | None = None

    def side(self) -> OldSide:
        """This process's old side, claimed once (each worker gets one of its own)."""
        if self.mine is None:
            self.mine = self.sides[self.free.get()]
        return self.mine

    def close(self) -> None:
        for side in self.sides:
            side.close()


@dataclass
class Compared:
    """One item compared, in whichever process decided it: its records and the input problems met."""

    records: list[dict[str, Any] | Problem]


def compare_pairs(pairs: Iterable[tuple[Item, dict[str, Verdict], dict[str, Verdict]] | Problem | Skipped]
                  ) -> Iterator[Compared | Problem | Skipped]:
    """Each pair compared as it comes (while the old side still holds its derivations for the reasons)."""
    for entry in pairs:
        if isinstance(entry, (Problem, Skipped)):
            yield entry
        else:
            yield Compared(list(compare_item(*entry)))


def compare_all(old: OldSide | Pairs, new: Decider, items: Iterable[Item | Problem | Skipped],
                payer: str | None, jobs: int) -> Iterator[Compared | Problem | Skipped]:
    """Every item decided under both kbs and compared, in input order: item by item with one old side
    (this process holds the new kb), or chunk by chunk on `jobs` pairs of processes."""
    if isinstance(old, OldSide):
        yield from compare_pairs(decide_pairs(old, new, items, payer))
        return
    pairs = old
    yield from map_chunks(lambda chunk: list(compare_pairs(decide_pairs(pairs.side(), new, chunk, payer))),
                          items, jobs)


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
    a = v.answer
    assert a is not None  # a known payer that did not reject the request answered it
    return {"decision": a.decision, "pathway": a.pathway, "approval_months": a.approval_months,
            "refer_to": a.refer_to, "refer_by": a.refer_by,
            "to_document": sorted({f"{t.criterion}: {t.field}" for t in a.to_document}),
            "unclassified": sorted(u.name for u in a.unclassified), "error": None}


def answer_reasons(answer: Answer | None) -> dict[str, list[str] | None]:
    """Every criterion id an answer names, with its `because` (None for a closest pathway, which the
    answer gives no reasons of): the derived pathway's criteria, the closest pathways and their criteria,
    with their parts at any depth."""
    found: dict[str, list[str] | None] = {}

    def walk(entry: Criterion) -> None:
        found.setdefault(entry.id, list(entry.because))
        for part in entry.parts:
            walk(part)

    if answer is None:
        return found
    for entry in answer.criteria:
        walk(entry)
    for near in answer.closest:
        found.setdefault(near.pathway, None)
        for entry in near.criteria:
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
    for v in (before, after):
        v.complete(ids)  # one round for the reasons the other side's answer asks of this one
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
class Tally:
    """The counts of a run, kept as the records go by: nothing of a record is held once it is written."""

    cases: int = 0
    payers: set[str] = field(default_factory=set)
    changed: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        self.payers.add(record["payer"])
        if record["changed"]:
            self.changed += 1
            for kind in record["changed"]:
                self.by_kind[kind] += 1
        else:
            self.unchanged += 1

    def summary(self) -> dict[str, Any]:
        """The counts of the run: answers compared, changed by kind, unchanged, bad input."""
        return {"cases": self.cases, "payers": len(self.payers), "answers": self.changed + self.unchanged,
                "changed": self.changed, **self.by_kind, "unchanged": self.unchanged, "errors": len(self.errors)}


def compare_item(item: Item, old: dict[str, Verdict], new: dict[str, Verdict]
                 ) -> Iterator[dict[str, Any] | Problem]:
    """One item's (case, payer) pairs compared, payer by payer; a pair one side did not decide is a payer
    only the other knows, and a pair both kbs reject alike is a Problem of the input."""
    for payer in sorted(old.keys() | new.keys()):
        before, after = old.get(payer, Verdict(False)), new.get(payer, Verdict(False))
        error = bad_input(item, payer, before, after)
        yield Problem(error) if error is not None else compare(item, payer, before, after)


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


# ----------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------




def run(report: Any, entries: Iterable[Compared | Problem | Skipped]) -> Tally:
    """Hand each item's records to the report as they come; errors go to stderr as they are met (each
    once), and the tally is what the report's end and the exit status need."""
    tally = Tally()
    seen: set[str] = set()
    report.start()

    def problem(text: str) -> None:
        if text not in seen:
            seen.add(text)
            tally.errors.append(text)
            click.echo(f"lumakras: {text}", err=True)

    for entry in entries:
        if isinstance(entry, Problem):
            problem(entry.text)
        elif isinstance(entry, Skipped):
            tally.skipped.append(entry.path)
        else:
            counted = False
            for record in entry.records:
                if isinstance(record, Problem):
                    problem(record.text)
                    continue
                counted = True
                tally.add(record)
                report.record(record)
            tally.cases += counted
    report.finish(tally)
    return tally
