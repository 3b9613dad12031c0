"""Build the answer of DECISIONS.md from a derivation: criteria, closest pathways, what to send.

Everything said here comes from the kb: a criterion's words and citation (node facts), the sentence for
each leaf row (explains facts), labels of fields and classes, and the file:line of the facts and rules
that produced it. A new rule or criterion explains itself with no new code here.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from .answer import ANSWER_SCHEMA, Answer, Closest, Criterion, Otherwise, Provenance, ToDocument, Unclassified
from .concepts import Concepts
from .engine import Derivation, Row
from .escape import one_line
from .kb import KnowledgeBase, Node
from .policy import MET, NOT_DOCUMENTED, NOT_MET
from .request import name_key

# Which parts of a node justify its status (the derivation, pruned): by how it combines and its status.
_JUSTIFYING = {
    ("all", MET): {MET},
    ("all", NOT_MET): {NOT_MET},
    ("all", NOT_DOCUMENTED): {NOT_DOCUMENTED},
    ("any", MET): {MET},
    ("any", NOT_MET): {NOT_MET},
    ("any", NOT_DOCUMENTED): {NOT_DOCUMENTED, NOT_MET},  # the alternatives not met are shown with why
    ("not", MET): {NOT_MET},
    ("not", NOT_MET): {MET},
    ("not", NOT_DOCUMENTED): {NOT_DOCUMENTED},
}
_HOW_WORDS = {
    ("all", MET): "all of its parts are met",
    ("all", NOT_MET): "not met: {ids}",
    ("all", NOT_DOCUMENTED): "none is not met, but not documented: {ids}",
    ("any", MET): "met by {ids}",
    ("any", NOT_MET): "none of its parts is met",
    ("any", NOT_DOCUMENTED): "none is met; not documented: {nd}{nm}",
    ("not", MET): "{ids} is not met",
    ("not", NOT_MET): "{ids} is met",
    ("not", NOT_DOCUMENTED): "{ids} is not documented",
}


class Explainer:
    """Turns derivations into answers (typed: core/answer.py, whose to_json() is their JSON)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._digests: dict[str, str] = {}
        self._files: dict[str, tuple[str, ...]] = {}
        self.version = f"lumakras-logic {__version__}"
        self._concepts: Concepts | None = None
        self._diagnosis_nodes: dict[tuple[str, str], list[str]] = {}

    def files(self, payer: str) -> tuple[str, ...]:
        """The kb files that decide this payer's requests, read once per payer."""
        if payer not in self._files:
            self._files[payer] = tuple(self.kb.payer_files(payer))
        return self._files[payer]

    def digest(self, payer: str) -> str:
        """The digest of the kb files that decide this payer's requests (KnowledgeBase.payer_digest)."""
        if payer not in self._digests:
            self._digests[payer] = self.kb.payer_digest(payer)
        return self._digests[payer]

    # the answer ---------------------------------------------------------------------------------------
    def answer(self, d: Derivation) -> Answer:
        kb = self.kb
        policy = kb.policies[d.payer]
        criteria: list[Criterion] = []
        closest: list[Closest] = []
        to_document: list[ToDocument] = []
        if d.pathway:
            pathway = kb.node(d.payer, d.pathway)
            criteria = [self.criterion(d, part) for part in pathway.parts
                        if d.status[part] == MET]
        else:
            closest = self.closest(d)
            if d.decision == "pend":
                to_document = self.to_document(d)
        # "Conditions not covered" and the like are the ground of a deny only where the kb says when
        # (otherwise_when: e.g. Cigna's "ANY other use(s)" for a diagnosis no pathway names).
        grounds = tuple(n for n in policy.otherwise_when if d.status.get(n) == MET)
        otherwise = tuple(Otherwise(text=t, cite=c, because=grounds) for t, c in policy.otherwise) \
            if d.decision == "deny" and grounds else None
        provenance = Provenance(schema=ANSWER_SCHEMA, policy=policy.id, revision=policy.revision, title=policy.title,
                                kb_digest=self.digest(d.payer), kb_files=self.files(d.payer), engine=self.version,
                                request_source=d.request.source, request_date=d.request.date)
        return Answer(request=d.request.id, payer=d.payer, policy=policy.id, decision=d.decision, pathway=d.pathway,
                      approval_months=d.months, refer_to=d.refer_to, criteria=tuple(criteria),
                      closest=tuple(closest), to_document=tuple(to_document), refer_by=d.refer_by or None,
                      unclassified=tuple(self.unclassified(d, f, n) for f, n in d.unknown),
                      otherwise=otherwise, provenance=provenance)

    def unclassified(self, d: Derivation, field_name: str, name: str) -> Unclassified:
        """A name of the request the vocabulary does not know, never silently dropped (readings 16, 17), with
        the vocabulary's nearest names."""
        written = d.request.display(name)
        if field_name in self.kb.value_names:
            because = f"'{written}' is not a {self.kb.label(field_name)} the vocabulary knows"
            return Unclassified(field=field_name, name=written, because=because + self.kb.suggest(written, field_name))
        return Unclassified(field=field_name, name=written,
                            because=f"'{written}' is not a name the vocabulary knows: it may be any drug"
                                    f"{self.kb.suggest(written, 'drug')}")

    def closest(self, d: Derivation) -> list[Closest]:
        """Every candidate pathway, nearest first: fewest criteria not_met, then fewest not_documented
        (DECISIONS.md); in a tie, the one whose first failed concept comes latest in the kb's order of
        concepts (kb/vocab/concepts.dl: what the disease is before how it is treated), so a colorectal
        request failing one criterion of each pathway is nearest the colorectal one, not the NSCLC one it
        fails on its diagnosis; then the policy's order."""
        entries = []
        for index, pathway_id in enumerate(d.candidates):
            node = self.kb.node(d.payer, pathway_id)
            parts = tuple(self.criterion(d, part) for part in node.parts)
            not_met = sum(p.status == NOT_MET for p in parts)
            missing = sum(p.status == NOT_DOCUMENTED for p in parts)
            entries.append(((not_met, missing, -self._first_failed_rank(d, pathway_id), index), Closest(
                pathway=pathway_id, status=d.status[pathway_id],
                other_diagnosis=self._for_other_diagnosis(d, pathway_id), text=node.text, cite=node.cite,
                not_met=not_met, not_documented=missing, criteria=parts)))
        entries.sort(key=lambda e: e[0])
        return [e[1] for e in entries]

    def _for_other_diagnosis(self, d: Derivation, pathway_id: str) -> bool:
        """Whether the pathway is for another diagnosis: every criterion under it tagged with a concept the
        kb names in pathway_concept (the diagnosis) is not met. `why` folds such pathways away."""
        key = (d.payer, pathway_id)
        if key not in self._diagnosis_nodes:
            concepts = self.concepts
            which = {c for (c,) in self.kb.ask("pathway_concept", "?C")}
            self._diagnosis_nodes[key] = [n for n in concepts.tagged_under(d.payer, pathway_id)
                                          if concepts.of(d.payer, n) in which]
        tagged = self._diagnosis_nodes[key]
        return bool(tagged) and all(d.status.get(n) == NOT_MET for n in tagged)

    @property
    def concepts(self) -> Concepts:
        if self._concepts is None:
            self._concepts = Concepts(self.kb)
        return self._concepts

    def _first_failed_rank(self, d: Derivation, pathway_id: str) -> int:
        """The rank of the earliest concept the pathway fails (not_met, else not_documented) on; a large
        rank when it fails on none, or the kb tags no concepts."""
        concepts = self.concepts
        tagged = concepts.tagged_under(d.payer, pathway_id, lambda n: self.deciding_parts(d, n))
        for status in (NOT_MET, NOT_DOCUMENTED):
            ranks = [concepts.concept_of(d.payer, n).rank for n in tagged if d.status.get(n) == status]
            if ranks:
                return min(ranks)
        return 1 << 30

    def deciding_parts(self, d: Derivation, node_id: str) -> list[str]:
        """The parts that decide a node's status (an 'any' that is met rests on its met parts only, so a
        failed alternative beside them decided nothing)."""
        node = self.kb.node(d.payer, node_id)
        return [p for p in node.parts if d.status[p] in _JUSTIFYING[(node.how or "all", d.status[node_id])]]

    def criterion(self, d: Derivation, node_id: str) -> Criterion:
        """One criterion with its status, the policy's words, why, and the parts that decided it."""
        node = self.kb.node(d.payer, node_id)
        status = d.status[node_id]
        if node.test is not None:
            rows = [r for r in d.rows.get(node_id, []) if r.status == status]
            return Criterion(id=node_id, status=status, text=node.text, cite=node.cite,
                             because=tuple(dict.fromkeys(self.sentence(d, node, r) for r in rows)),
                             rules=tuple(self.leaf_rules(node, rows)),
                             sources=self.sources(d, node, rows) if d.request.sources else ())
        how = node.how or "all"
        deciding = self.deciding_parts(d, node_id)
        ids = ", ".join(deciding)
        nd = ", ".join(p for p in deciding if d.status[p] == NOT_DOCUMENTED)
        nm = ", ".join(p for p in deciding if d.status[p] == NOT_MET)
        because = _HOW_WORDS[(how, status)].format(ids=ids, nd=nd, nm=f"; not met: {nm}" if nm else "")
        return Criterion(id=node_id, status=status, text=node.text, cite=node.cite, because=(because,),
                         rules=(node.where,) if node.where else (), combines=how,
                         parts=tuple(self.criterion(d, p) for p in deciding))

    def sources(self, d: Derivation, node: Node, rows: list[Row]) -> tuple[str, ...]:
        """Where the facts a leaf read came from, for a request read from FHIR: the field's own source, and
        for a list the source of each entry its rows name ('prior_therapies: MedicationStatement/ms-1 ...')."""
        _kind, subject, param = node.test or ("", "", "")
        out = []
        for field_name in (subject, param):
            given = d.request.sources.get(field_name) if isinstance(field_name, str) else None
            if not given:
                continue
            named = {name_key(str(v)) for r in rows for v in (r.x, r.y, r.z) if v not in (None, "")}
            picked = [src for key, src in given.items() if key == "" or key in named] or list(given.values())
            out += [one_line(f"{field_name}: {src}") for src in dict.fromkeys(picked)]
        return tuple(out)

    def leaf_rules(self, node: Node, rows: list[Row]) -> list[str]:
        kind = node.test[0] if node.test else "*"
        where = [node.test_where] if node.test_where else []
        for r in rows:
            rule = self.kb.rule_where.get((kind, r.status, r.note)) or self.kb.rule_where.get(("*", r.status, r.note)) \
                or self.kb.rule_where.get((kind, "*", "*"))
            if rule:
                where.append(rule)
        return list(dict.fromkeys(where))

    # sentences --------------------------------------------------------------------------------------
    def sentence(self, d: Derivation, node: Node, row: Row) -> str:
        kind = node.test[0] if node.test else ""
        template = self.kb.sentence(kind, row.status, row.note)
        if template is None:
            return f"{node.id}: {row.status} ({row.note} {row.x} {row.y} {row.z})".strip()
        subject = node.test[1] if node.test else ""
        note = d.request.notes.get(subject)
        text = self.fill(template, d, node, row)
        return f"{text} ({note})" if note and row.status != NOT_DOCUMENTED else text

    def question(self, d: Derivation, node: Node, row: Row) -> str:
        """The question that settles a not-documented row (kb asks facts)."""
        kind = node.test[0] if node.test else ""
        template = self.kb.question(kind, row.note)
        return self.fill(template, d, node, row) if template else ""

    def fill(self, template: str, d: Derivation, node: Node, row: Row) -> str:
        """A kb sentence with its slots filled from the row's evidence (kb/engine/explain.dl)."""
        kb = self.kb
        kind, subject, param = node.test or ("", "", "")
        show = d.request.display
        slots: dict[str, Any] = {  # each computed only if the template asks for it
            "subject": lambda: kb.field_labels.get(subject, str(subject)),
            "field": lambda: subject,
            "param": lambda: show(param) if not isinstance(param, str) else param,
            "set": lambda: ", ".join(v.replace("_", " ") for v in sorted(kb.sets.get(str(param), []))),
            "class": lambda: kb.class_label(str(param)),
            "x": lambda: show(row.x),
            "y": lambda: show(row.y),
            "z": lambda: show(row.z),
            "entry": lambda: show(row.x) if row.x == row.y or row.y == "" else f"{show(row.x)} ({show(row.y)})",
            "how": lambda: self.how(d, row, kind, param, subject) if row.note == "drug" else "",
            "maybe": lambda: self.maybe(d, row) if row.note in ("may", "may_self") else "",
            "suggest": lambda: self.suggest_for(d, subject, row) if row.note == "unknown" else "",
            "unknown": lambda: self.unknown_name(d, subject, row) if row.note == "unknown" else "",
            "written": lambda: show(d.request.scalars.get(subject, row.x)),
            "y_label": lambda: kb.label(row.y),
            "z_label": lambda: kb.label(row.z),
            "param_label": lambda: kb.label(param),
            "reading": lambda: self.reading(d, row) if row.note == "condition" else "",
        }
        return template.format_map(_Slots(slots))

    def reading(self, d: Derivation, row: Row) -> str:
        """How the payer counts a diagnosis it reads as another (Centene: appendiceal adenocarcinoma is
        CRC): ', which CP.PHAR.549 reads as colorectal cancer'."""
        if row.status != MET or not row.z or row.z == row.y:
            return ""
        return f", which {self.kb.policies[d.payer].id} reads as {self.kb.label(row.z)}"

    def maybe(self, d: Derivation, row: Row) -> str:
        """What an entry may be, in words that say no more than the entry: a class name is an unnamed
        member; an entry {name, kind} is a drug the vocabulary does not name; a name may be several drugs."""
        kb = self.kb
        show = d.request.display
        entry, what, part = str(row.x), str(row.y), str(row.z)
        prefix = f"'{show(entry)}': " if part and part != entry else ""
        if part in kb.ambiguous:  # a name that may be several drugs
            others = sorted(kb.ambiguous[part])
            return f"{prefix}'{show(part)}' may name any of {', '.join(others)}"
        if part == entry and any(entry in kinds for kinds in d.request.kinds.values()):
            return f"'{show(entry)}' is a drug the vocabulary does not name, {kb.class_label(what)}"
        return f"{prefix}'{show(part)}' names a class, {kb.class_label(what)}, not a drug"

    def unknown_name(self, d: Derivation, subject: str, row: Row) -> str:
        """The name the vocabulary does not know, as the request wrote it: a part, or the kind of an entry
        written {name, kind}."""
        kind = d.request.kinds.get(subject, {}).get(str(row.x))
        if kind is not None:
            return f"the kind '{d.request.display(kind)}' of '{d.request.display(row.x)}'"
        return f"'{d.request.display(row.y)}'"

    def suggest_for(self, d: Derivation, subject: str, row: Row) -> str:
        """' (did you mean ...?)' for a name the vocabulary does not know: its nearest names, never a
        correction (reading 16)."""
        if subject in self.kb.value_names:
            written = d.request.display(d.request.scalars.get(subject, row.x))
            return self.kb.suggest(written, subject)
        kind = d.request.kinds.get(subject, {}).get(str(row.x))
        if kind is not None:
            return self.kb.suggest(d.request.display(kind), "class")
        return self.kb.suggest(d.request.display(row.y), "drug")

    def how(self, d: Derivation, row: Row, kind: str, target: Any, field_name: str = "") -> str:
        """How a drug-list entry was classified: 'Vectibix is panitumumab, an EGFR inhibitor'."""
        kb = self.kb
        written = d.request.display(row.x)
        name, drug, via = str(row.x), str(row.y), str(row.z)
        if drug == "":  # an unnamed member: of a kind ({name, kind}), or of the class a part names
            if via == "kind":
                kind_name = next((k[name] for k in d.request.kinds.values() if name in k), "")
                cls = kb.class_aliases.get(kind_name, kind_name)
                text = f"'{written}' is a drug the vocabulary does not name, {kb.class_label(cls)}"
            else:
                cls = kb.class_aliases.get(via, via)
                part = d.request.display(via)
                every = "every one of them" if field_name in kb.universal_lists else ""
                text = (f"{written}: " if via != name else "") + f"'{part}' names a class, {kb.class_label(cls)}"
                text += f", {every}" if every else ""
            if cls != str(target) and kind in ("any_in_class", "none_in_class"):
                text += f" ({kb.class_label(str(target))})"
            return text
        if via == "every":
            return f"{written} covers {drug}" + (f", {kb.class_label(kb.drug_classes[drug][0])}"
                                                   if kb.drug_classes.get(drug) else "")
        joined = name not in kb.known_names  # an entry split into the names it joins: it includes them
        if via == "is":
            text = written if name == drug else f"'{written}' includes {drug}" if joined else f"{written} is {drug}"
        else:
            label = kb.regimen_labels.get(via, via)
            text = f"{written} contains {drug}" if name == via else \
                f"'{written}' includes {label}, which contains {drug}" if joined else \
                f"{written} ({label}) contains {drug}"
        classes = kb.drug_classes.get(drug, [])
        if kind in ("any_in_class", "none_in_class"):
            for cls in classes:
                chain = kb.wider_classes(cls, str(target))
                if chain:
                    text += f", {kb.class_label(cls)}"
                    if len(chain) > 1:
                        text += f" ({kb.class_label(str(target))})"
                    break
        elif classes:
            text += f", {kb.class_label(classes[0])}"
        return text

    # what to send -------------------------------------------------------------------------------------
    def to_document(self, d: Derivation) -> list[ToDocument]:
        """On pend: for each pathway still open, the not-documented facts that would decide it."""
        out: list[ToDocument] = []
        seen: set[tuple[str, str, str]] = set()
        for pathway_id in d.candidates:
            if d.status[pathway_id] != NOT_DOCUMENTED:
                continue
            pathway = self.kb.node(d.payer, pathway_id)
            for part in pathway.parts:
                if d.status[part] != NOT_DOCUMENTED:
                    continue
                for leaf, alternatives, groups in self._missing_leaves(d, part, None, ()):
                    node = self.kb.node(d.payer, leaf)
                    kind, subject, _ = node.test or ("", "", "")
                    for row in (r for r in d.rows.get(leaf, []) if r.status == NOT_DOCUMENTED):
                        key = (pathway_id, part, f"{subject}:{row.x}")
                        if key in seen:
                            continue
                        seen.add(key)
                        name = d.request.display(row.y or row.x) if row.note == "unknown" else \
                            d.request.display(row.z or row.x) if row.note in ("may", "may_self") else None
                        given = tuple(g for group in groups for g in self.not_met_alternatives(d, group)) \
                            if alternatives else ()
                        out.append(ToDocument(
                            pathway=pathway_id, criterion=part, node=leaf,
                            field=self.fill(self.kb.sends.get((kind, row.note), "{field}"), d, node, row),
                            text=node.text, because=self.sentence(d, node, row),
                            question=self.question(d, node, row) or None, name=name, any_of=alternatives or None,
                            given=given))
        return out

    def not_met_alternatives(self, d: Derivation, group: str) -> list[str]:
        """The alternatives of a 'one of' criterion that are not met, each with the evidence of why: a pend
        for 961 mg/day says that the dose exceeds 960 (I.A.9.a), not only that evidence is missing."""
        return [f"{part} not met: {'; '.join(self.evidence(d, part))}"
                for part in self.kb.node(d.payer, group).parts if d.status[part] == NOT_MET]

    def evidence(self, d: Derivation, node_id: str) -> list[str]:
        """The leaf sentences a node's status rests on, along the parts that justify it."""
        node = self.kb.node(d.payer, node_id)
        status = d.status[node_id]
        if node.test is not None:
            rows = [r for r in d.rows.get(node_id, []) if r.status == status]
            return list(dict.fromkeys(self.sentence(d, node, r) for r in rows))
        how = node.how or "all"
        return [s for p in node.parts if d.status[p] in _JUSTIFYING[(how, status)] for s in self.evidence(d, p)]

    def _missing_leaves(self, d: Derivation, node_id: str, alternatives: str | None,
                        groups: tuple[str, ...]) -> list[tuple[str, str | None, tuple[str, ...]]]:
        """The not_documented leaves under a not_documented node, each with the innermost 'one of' it is an
        alternative of, and every 'one of' above it (whose not-met alternatives explain the gap)."""
        node = self.kb.node(d.payer, node_id)
        if node.test is not None:
            return [(node_id, alternatives, groups)]
        found: list[tuple[str, str | None, tuple[str, ...]]] = []
        if node.how == "any":
            alternatives, groups = node_id, (*groups, node_id)
        for part in node.parts:
            if d.status[part] == NOT_DOCUMENTED:
                found += self._missing_leaves(d, part, alternatives, groups)
        return found


class _Slots(dict):
    """format_map slots, each a function called when the template names it; an unknown slot stays visible
    instead of failing."""

    def __getitem__(self, key: str) -> Any:
        value = dict.get(self, key)
        return "{" + key + "}" if value is None else value() if callable(value) else value

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
