"""`lumakras compare`: one request decided under several payers, side by side, aligned row by row per concept.

Each payer's answer (decision, pathway, duration, referral) comes first; then one row per concept
(kb/vocab/concepts.dl), holding each payer's criteria on that concept with their statuses and the facts they
rest on. The rows where the payers part ways come first, each with one sentence on why, generated from kb
data alone: the policy ids, the criteria's ids and words, their statuses, and the explainer's sentences.

Nothing here knows a payer, a concept, a criterion or a drug. Which criteria a payer's rows show is read from
its derivation (the *focus* pathways: the one that decided, else the nearest one that could approve), and the
concept each criterion asks about from the kb's tags (lumakras_logic/core/concepts.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.answer import Criterion
from ..core.api import Decider
from ..core.concepts import UNTAGGED, Concepts
from ..core.engine import Derivation
from ..core.exits import fail
from ..core.policy import MET, NOT_DOCUMENTED, NOT_MET
from ..core.request import Request, RequestError, load_request, request_files, token_key

APPROVE = "approve"  # the decision of DECISIONS.md a pathway can lead to; the others (refer) are not approvals

DIFFERS, ONE_SIDED, AGREES = "differs", "one_sided", "agrees"
KINDS = (DIFFERS, ONE_SIDED, AGREES)
# How much a status stands in the way of an approval: the payer whose criterion blocks is named first.
SEVERITY = {NOT_MET: 0, NOT_DOCUMENTED: 1, MET: 2, None: 3}
STATUS_WORDS = {MET: "met", NOT_MET: "not met", NOT_DOCUMENTED: "not documented"}
# The fields of an answer that can differ between payers (pathway ids are each policy's own numbering).
COMPARED_FIELDS = ("decision", "approval_months", "refer_to")


@dataclass
class Focus:
    """A pathway whose criteria fill a payer's column, and why it was chosen."""

    pathway: str
    text: str
    role: str  # 'answer' | 'nearest approving' | 'nearest'


@dataclass
class Cell:
    """One criterion of one payer on a row: the policy's words, its status and the facts it rests on."""

    payer: str
    id: str
    text: str
    cite: str
    status: str
    because: list[str]
    pathway: str


@dataclass
class Unneeded:
    """A criterion on a row that an alternative made unnecessary: `within` ("one of the following") is met
    by `met_by`, so this criterion decided nothing (e.g. Cigna 2.D.i when 2.D is met by 2.D.ii)."""

    id: str
    text: str
    status: str
    within: str
    met_by: list[str]


@dataclass
class PayerAnswer:
    """A payer's answer to the request, or the error that kept its policy from reading it."""

    payer: str
    policy: str
    revision: str
    decision: str | None = None
    pathway: str | None = None
    pathway_text: str | None = None
    approval_months: int | None = None
    refer_to: str | None = None
    error: str | None = None
    focus: list[Focus] = field(default_factory=list)
    kb_digest: str = ""


@dataclass
class Row:
    """One concept across the payers: each payer's cells, and its standing (None: it asks nothing there)."""

    concept: str
    label: str
    rank: int
    cells: dict[str, list[Cell]]
    standing: dict[str, str | None]
    unneeded: dict[str, list[Unneeded]] = field(default_factory=dict)
    kind: str = AGREES
    why: str | None = None

    def asks(self, payer: str) -> bool:
        """Whether the payer has a criterion on this concept here, needed or not."""
        return bool(self.cells.get(payer) or self.unneeded.get(payer))


@dataclass
class Comparison:
    """One request compared: the payers' answers, the aligned rows, and which answer fields differ."""

    request: str
    source: str
    date: str
    payers: dict[str, PayerAnswer]
    rows: list[Row]
    differs: list[str]


# ----------------------------------------------------------------------------------------------------------
# Building the comparison
# ----------------------------------------------------------------------------------------------------------


class Comparer:
    """Compares requests under a list of payers of one loaded kb."""

    def __init__(self, decider: Decider, payers: list[str]) -> None:
        self.decider = decider
        self.kb = decider.kb
        self.payers = payers
        self.concepts = Concepts(decider.kb)
        self._approving: dict[str, set[str]] = {}

    # the answers ----------------------------------------------------------------------------------------
    def compare_file(self, path: Path) -> Comparison:
        """Read and compare one request file; RequestError if it cannot be read at all."""
        request = load_request(path, self.kb.payers(), self.decider.today, self.kb)
        return self.compare(request)

    def compare(self, request: Request) -> Comparison:
        """Decide the request under every payer whose policy can read it; the others keep their error."""
        answers: dict[str, PayerAnswer] = {}
        readable: list[str] = []
        for payer in self.payers:
            policy = self.kb.policies[payer]
            answers[payer] = PayerAnswer(payer, policy.id, policy.revision)
            try:
                self.decider.engine.check(request, payer)
                readable.append(payer)
            except RequestError as exc:
                answers[payer].error = f"cannot decide: {exc.field}: {exc.message}" if exc.field else \
                    f"cannot decide: {exc.message}"
        derivations = self.decider.engine.decide_many(request, readable) if readable else {}
        focus = {payer: self.focus(d) for payer, d in derivations.items()}
        for payer, d in derivations.items():
            self._fill_answer(answers[payer], d, focus[payer])
        rows = self.rows(derivations, focus)
        answered = [answers[p] for p in readable]
        differs = [f for f in COMPARED_FIELDS if len({getattr(a, f) for a in answered}) > 1]
        return Comparison(request.id, request.source, request.date.isoformat(), answers, rows, differs)

    def _fill_answer(self, answer: PayerAnswer, d: Derivation, focus: list[Focus]) -> None:
        answer.decision, answer.pathway = d.decision, d.pathway
        answer.pathway_text = self.kb.node(d.payer, d.pathway).text if d.pathway else None
        answer.approval_months, answer.refer_to = d.months, d.refer_to
        answer.focus = focus
        answer.kb_digest = self.decider.explainer.digest(d.payer)

    # which pathways fill a payer's column ---------------------------------------------------------------
    def approving(self, payer: str) -> set[str]:
        """Every node under a pathway that can approve: a referral pathway reaches into these (Centene's
        "is the use covered" reads I.A.1, I.A.3, ...), but they belong to the approving pathway's rows."""
        if payer not in self._approving:
            found: set[str] = set()

            def walk(n: str) -> None:
                if n not in found:
                    found.add(n)
                    for part in self.kb.node(payer, n).parts:
                        walk(part)

            for w in self.kb.pathways[payer]:
                if w.outcome == APPROVE:
                    walk(w.id)
            self._approving[payer] = found
        return self._approving[payer]

    def focus(self, d: Derivation) -> list[Focus]:
        """The pathways whose criteria the rows show. On approve, the pathway that approved; on refer, that
        pathway and the nearest one that could have approved (it shows why the use falls outside, e.g. the
        age); on deny or pend, the nearest pathway that could approve (what stands between the request and
        an approval), or the explainer's nearest when no pathway of the payer approves."""
        kb = self.kb
        out: list[Focus] = []
        if d.pathway:
            out.append(Focus(d.pathway, kb.node(d.payer, d.pathway).text, "answer"))
            if d.decision == APPROVE:
                return out
        outcome = {w.id: w.outcome for w in kb.pathways[d.payer]}
        approving = [w for w in d.candidates if outcome.get(w) == APPROVE and w != d.pathway]
        if approving:
            best = min(approving, key=lambda w: self.nearness(d, w, d.candidates.index(w)))
            out.append(Focus(best, kb.node(d.payer, best).text, "nearest approving"))
        elif not d.pathway and d.candidates:
            nearest = self.decider.explainer.closest(d)[0]
            out.append(Focus(nearest.pathway, nearest.text, "nearest"))
        return out

    def nearness(self, d: Derivation, pathway: str, index: int) -> tuple[Any, ...]:
        """How near a pathway came, nearest smallest: one with nothing not met first (it could still be
        approved); then the one whose first concept not met comes latest in the kb's order of concepts (a
        reviewer's reading order: what the disease is before how it is treated, so a CRC request is nearest
        the CRC pathway, not the NSCLC pathway it fails on its diagnosis); then fewest concepts not met, the
        same for not documented, and the policy's order. Counting concepts, not the pathway's own parts,
        weighs a policy that bundles four questions into one criterion (Cigna 1.B) like one that does not."""
        focus = [Focus(pathway, "", "")]
        ranks: dict[str, list[int]] = {NOT_MET: [], NOT_DOCUMENTED: []}
        for key, status in self.standings(d, focus, self.tagged(d, focus)).items():
            if status in ranks:
                ranks[status].append(self.rank(key))
        failed, missing = ranks[NOT_MET], ranks[NOT_DOCUMENTED]
        late = 1 << 30
        return (bool(failed), -min(failed, default=late), len(failed), -min(missing, default=late), len(missing),
                index)

    def parts_of(self, d: Derivation, focus: Focus, prune: bool = True) -> Callable[[str], list[str]]:
        """The parts of a node to walk, following the derivation: of a met "one of", only the met
        alternatives (the others decided nothing; `prune=False` keeps them); under a pathway that cannot
        approve, not the criteria of the approving pathways (they are shown through the nearest approving
        pathway)."""
        kb = self.kb
        skip = self.approving(d.payer) if focus.pathway not in self.approving(d.payer) else set()

        def parts(node_id: str) -> list[str]:
            node = kb.node(d.payer, node_id)
            chosen = node.parts
            if prune and node.how == "any" and d.status[node_id] == MET:
                chosen = [p for p in chosen if d.status[p] == MET]
            return [p for p in chosen if p not in skip]

        return parts

    def unneeded(self, d: Derivation, focus: list[Focus], shown: set[str]) -> dict[str, list[Unneeded]]:
        """By row key: the tagged criteria under the unmet alternatives of a met "one of" in the focus
        pathways, which the rows leave out (they decided nothing) but which say the payer does ask about the
        concept, only not here (not shown already)."""
        out: dict[str, list[Unneeded]] = {}
        seen: set[str] = set(shown)
        for f in focus:
            pruned, full = self.parts_of(d, f), self.parts_of(d, f, prune=False)
            walked: set[str] = set()

            def walk(node_id: str, pruned: Callable[[str], list[str]] = pruned,
                     full: Callable[[str], list[str]] = full, walked: set[str] = walked) -> None:
                if node_id in walked or self.concepts.of(d.payer, node_id):
                    return
                walked.add(node_id)
                kept = pruned(node_id)
                for part in full(node_id):
                    if part in kept:
                        walk(part)
                        continue
                    for t in self.concepts.tagged_under(d.payer, part, full):
                        if t not in seen:
                            seen.add(t)
                            node = self.kb.node(d.payer, t)
                            out.setdefault(self.row_key(d.payer, t), []).append(
                                Unneeded(t, node.text, d.status[t], node_id, kept))

            walk(f.pathway)
        return out

    # the rows -----------------------------------------------------------------------------------------
    def tagged(self, d: Derivation, focus: list[Focus]) -> list[tuple[str, str, str]]:
        """(row key, criterion, focus pathway) for the tagged criteria under the focus pathways, each once."""
        out: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for f in focus:
            for node_id in self.concepts.tagged_under(d.payer, f.pathway, self.parts_of(d, f)):
                if node_id not in seen:
                    seen.add(node_id)
                    out.append((self.row_key(d.payer, node_id), node_id, f.pathway))
        return out

    def row_key(self, payer: str, node_id: str) -> str:
        """The concept a criterion asks about; an untagged one gets a row of its own (`lumakras check`
        reports it), since it cannot be aligned with another payer's criteria."""
        concept = self.concepts.of(payer, node_id)
        return concept if concept and concept in self.concepts.by_id else f"{UNTAGGED.id}:{payer}:{node_id}"

    def rank(self, key: str) -> int:
        return self.concepts.by_id[key].rank if key in self.concepts.by_id else UNTAGGED.rank

    def cell(self, d: Derivation, node_id: str, pathway: str) -> Cell:
        """A criterion as the explainer words it (`lumakras why`), with the leaf facts it rests on."""
        entry = self.decider.explainer.criterion(d, node_id)
        return Cell(d.payer, node_id, entry.text, entry.cite, entry.status, _reasons(entry), pathway)

    def standings(self, d: Derivation, focus: list[Focus], tagged: list[tuple[str, str, str]]) -> dict[str, str]:
        """How the payer stands on each concept it asks about: its criteria on the concept folded up each
        focus pathway's tree as the engine folds them (Kleene, by each node's combination, so an unmet
        alternative of a met "one of" is no obstacle), the focus pathways taken together."""
        ids: dict[str, set[str]] = {}
        for key, node_id, _pathway in tagged:
            ids.setdefault(key, set()).add(node_id)
        out: dict[str, str] = {}
        for key, cell_ids in ids.items():
            found = [s for f in focus if (s := self._fold(d, f, cell_ids)) is not None]
            if found:
                out[key] = self.decider.engine.combine("all", found)
        return out

    def _fold(self, d: Derivation, focus: Focus, cell_ids: set[str]) -> str | None:
        """The status of a focus pathway's tree cut down to the given criteria; None if none is under it.
        A criterion tagged with another concept covers its parts (kb/vocab/concepts.dl): the fold does not
        reach into it, even where one of the given criteria lies below it (Centene's I.review asks, through
        II.A.1, whether the indication is covered: that is the continuation row's, not the diagnosis row's)."""
        parts = self.parts_of(d, focus)

        def walk(node_id: str) -> str | None:
            if node_id in cell_ids:
                return d.status[node_id]
            if node_id != focus.pathway and self.concepts.of(d.payer, node_id):
                return None
            below = [s for s in (walk(p) for p in parts(node_id)) if s is not None]
            if not below:
                return None
            return self.decider.engine.combine(self.kb.node(d.payer, node_id).how or "all", below)

        return walk(focus.pathway)

    def rows(self, derivations: dict[str, Derivation], focus: dict[str, list[Focus]]) -> list[Row]:
        """One row per concept some payer's focus pathways ask about: parting rows first, then those only
        some payers ask, then those they agree on; by the concept's rank within each group. A payer with no
        criterion on a concept has standing None: it asks nothing there, no obstacle."""
        by_key: dict[str, Row] = {}
        standing: dict[str, dict[str, str]] = {}
        tagged = {payer: self.tagged(d, focus[payer]) for payer, d in derivations.items()}
        for payer, d in derivations.items():
            for key, node_id, pathway in tagged[payer]:
                if key not in by_key:
                    by_key[key] = self._new_row(key, derivations)
                by_key[key].cells[payer].append(self.cell(d, node_id, pathway))
            standing[payer] = self.standings(d, focus[payer], tagged[payer])
        for payer, d in derivations.items():
            shown = {node_id for _key, node_id, _pathway in tagged[payer]}
            for key, items in self.unneeded(d, focus[payer], shown).items():
                if key in by_key and not by_key[key].cells[payer]:
                    by_key[key].unneeded[payer] = items
        for row in by_key.values():
            # an alternative made the payer's criteria on the concept unnecessary: no obstacle, i.e. met
            row.standing = {p: standing[p].get(row.concept, MET if row.unneeded.get(p) else None)
                            for p in derivations}
            row.kind = _kind(row) if len(derivations) > 1 else ONE_SIDED  # one payer alone: nothing to compare
            row.why = self.why(row) if row.kind == DIFFERS else None
        return sorted(by_key.values(), key=lambda r: (KINDS.index(r.kind), r.rank, r.concept))

    def _new_row(self, key: str, derivations: dict[str, Derivation]) -> Row:
        if key in self.concepts.by_id:
            concept = self.concepts.concept(key)
            label, rank = concept.label, concept.rank
        else:
            _untagged, payer, node_id = key.split(":", 2)
            label, rank = f"{payer} {node_id} (tagged with no concept)", UNTAGGED.rank
        return Row(key, label, rank, {p: [] for p in derivations}, {})

    # the sentence ---------------------------------------------------------------------------------------
    def payer_name(self, payer: str) -> str:
        """A payer as the sentences name it: its id in the kb and its policy's id."""
        return f"{payer} ({self.kb.policies[payer].id})"

    def why(self, row: Row) -> str:
        """One sentence on why the payers part ways on a row: each payer's criteria with their words,
        statuses and facts, the payer whose criterion stands in the way first."""
        order = sorted(row.cells, key=lambda p: (SEVERITY[row.standing[p]], self.payers.index(p)))
        clauses = []
        for payer in order:
            cells = row.cells[payer]
            if row.unneeded.get(payer):
                clauses.append(f"{self.payer_name(payer)} {_not_needed(row.unneeded[payer])}")
                continue
            if not cells:
                clauses.append(f"{self.payer_name(payer)} has no criterion on {_phrase(row.label)}")
                continue
            deciding = [c for c in cells if c.status == row.standing[payer]] or cells
            asks = " and ".join(_asks(c) for c in deciding)
            clauses.append(f"{self.payer_name(payer)} {asks}")
        return "; ".join(clauses) + "."


def _reasons(entry: Criterion) -> list[str]:
    """The leaf facts a criterion rests on: the explainer's sentences of the parts that decided it, and no
    more. A part decided it when its status is the criterion's (of "must meet all" not met, the parts not met;
    of "one of" met, the parts met; of a criterion not documented, the parts not documented: what left it so),
    or when every part has that status; a "not" rests on its part. A "one of" that is not documented is so
    because no alternative is met: its alternatives not met follow, marked "not met:", so that the sentence
    says why they do not settle it either."""
    parts = entry.parts
    if not parts:
        return list(entry.because)
    status = entry.status
    deciding = parts if entry.combines == "not" else [p for p in parts if p.status == status] or parts
    out = [r for part in deciding for r in _reasons(part)]
    if status == NOT_DOCUMENTED and entry.combines == "any":
        out += [f"not met: {r}" for part in parts if part.status == NOT_MET for r in _reasons(part)]
    return list(dict.fromkeys(out))


def _kind(row: Row) -> str:
    """differs: the payers' standings differ (one that asks nothing counts as met, no obstacle); one_sided:
    they do not differ but not every payer asks; agrees: every payer asks and they stand alike."""
    standings = {row.standing[p] or MET for p in row.cells}
    if len(standings) > 1:
        return DIFFERS
    return AGREES if all(row.asks(p) for p in row.cells) else ONE_SIDED


def _asks(cell: Cell) -> str:
    status = STATUS_WORDS.get(cell.status, cell.status)
    facts = "; ".join(cell.because)
    return f'{cell.id} asks "{cell.text}" ({status}: {facts})' if facts else f'{cell.id} asks "{cell.text}" ({status})'


def _not_needed(items: list[Unneeded]) -> str:
    """'does not need 2.D.i "..." here: 2.D is met by 2.D.ii', for each "one of" that made some unneeded."""
    groups: dict[str, list[Unneeded]] = {}
    for u in items:
        groups.setdefault(u.within, []).append(u)
    said = []
    for within, group in groups.items():
        what = " or ".join(f'{u.id} "{u.text}" ({STATUS_WORDS.get(u.status, u.status)})' for u in group)
        said.append(f"does not need {what} here: {within} is met by {', '.join(group[0].met_by)}")
    return "; and ".join(said)


def _phrase(label: str) -> str:
    """A concept's label inside a sentence: 'Age' -> 'age', but 'KRAS G12C result' stays as it is."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def compare_files(comparer: Comparer, paths: Iterable[Path]) -> Iterator[Comparison | RequestError]:
    """Each file's comparison, or the error that kept it from being read; the others go on."""
    for path in request_files(paths):
        try:
            yield comparer.compare_file(path)
        except RequestError as exc:
            yield exc


# ----------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------


def choose_payers(decider: Decider, payers: tuple[str, ...]) -> list[str]:
    """--payer (repeatable; 'all' is every payer), in the order given; default every payer of the kb."""
    known = list(decider.kb.payers())
    chosen: list[str] = []
    for p in (token_key(q) for q in payers or ("all",)):
        if p == "all":
            chosen += known
        elif p in known:
            chosen.append(p)
        else:
            fail(f"--payer: unknown payer {p!r}; one of {', '.join([*known, 'all'])} "
                 "(a payer kept outside kb/ is loaded with --kb kb --kb ITS_FOLDER)")
    chosen = list(dict.fromkeys(chosen))
    if len(chosen) < 2:
        fail(f"compare needs two payers or more; the kb has {', '.join(known)}"
             + (f" and --payer chose {', '.join(chosen)}" if payers else ""))
    return chosen
