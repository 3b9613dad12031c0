"""Build the answer of DECISIONS.md from a derivation: criteria, closest pathways, what to send.

Everything said here comes from the kb: a criterion's words and citation (node facts), the sentence for
each leaf row (explains facts), labels of fields and classes, and the file:line of the facts and rules
that produced it. A new rule or criterion explains itself with no new code here.
"""

from __future__ import annotations

from typing import Any

from . import __version__
from .concepts import Concepts
from .engine import MET, NOT_DOCUMENTED, NOT_MET, Derivation, Row
from .kb import KnowledgeBase, Node

# Which parts of a node justify its status (the derivation, pruned): by how it combines and its status.
_JUSTIFYING = {
    ("all", MET): {MET},
    ("all", NOT_MET): {NOT_MET},
    ("all", NOT_DOCUMENTED): {NOT_DOCUMENTED},
    ("any", MET): {MET},
    ("any", NOT_MET): {NOT_MET},
    ("any", NOT_DOCUMENTED): {NOT_DOCUMENTED},
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
    ("any", NOT_DOCUMENTED): "none is met, and not documented: {ids}",
    ("not", MET): "{ids} is not met",
    ("not", NOT_MET): "{ids} is met",
    ("not", NOT_DOCUMENTED): "{ids} is not documented",
}


class Explainer:
    """Turns derivations into answers (plain dicts, ready for JSON)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._digests: dict[str, str] = {}
        self._files: dict[str, tuple[str, ...]] = {}
        self.version = f"lumakras-logic {__version__}"
        self._concepts: Concepts | None = None

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
    def answer(self, d: Derivation) -> dict[str, Any]:
        kb = self.kb
        policy = kb.policies[d.payer]
        criteria: list[dict[str, Any]] = []
        closest: list[dict[str, Any]] = []
        to_document: list[dict[str, Any]] = []
        if d.pathway:
            pathway = kb.node(d.payer, d.pathway)
            criteria = [self.criterion(d, part) for part in pathway.parts
                        if d.status[part] == MET]
        else:
            closest = self.closest(d)
            if d.decision == "pend":
                to_document = self.to_document(d)
        out: dict[str, Any] = {
            "request": d.request.id,
            "payer": d.payer,
            "policy": policy.id,
            "decision": d.decision,
            "pathway": d.pathway,
            "approval_months": d.months,
            "refer_to": d.refer_to,
            "criteria": criteria,
            "closest": closest,
            "to_document": to_document,
        }
        if d.refer_by:
            out["refer_by"] = d.refer_by
        if d.unknown:
            out["unclassified"] = [{"field": f, "name": d.request.display(n),
                                    "because": f"unknown drug '{d.request.display(n)}': not classified"}
                                   for f, n in d.unknown]
        if d.decision == "deny" and policy.otherwise:
            out["otherwise"] = [{"text": t, "cite": c} for t, c in policy.otherwise]
        out["provenance"] = {"policy": policy.id, "revision": policy.revision, "title": policy.title,
                             "kb_digest": self.digest(d.payer), "kb_files": list(self.files(d.payer)),
                             "engine": self.version, "request_source": d.request.source,
                             "request_date": d.request.date.isoformat()}
        return out

    def closest(self, d: Derivation) -> list[dict[str, Any]]:
        """Every candidate pathway, nearest first: fewest criteria not_met, then fewest not_documented
        (DECISIONS.md); in a tie, the one whose first failed concept comes latest in the kb's order of
        concepts (kb/vocab/concepts.dl: what the disease is before how it is treated), so a colorectal
        request failing one criterion of each pathway is nearest the colorectal one, not the NSCLC one it
        fails on its diagnosis; then the policy's order."""
        entries = []
        for index, pathway_id in enumerate(d.candidates):
            node = self.kb.node(d.payer, pathway_id)
            parts = [self.criterion(d, part) for part in node.parts]
            not_met = sum(p["status"] == NOT_MET for p in parts)
            missing = sum(p["status"] == NOT_DOCUMENTED for p in parts)
            entries.append(((not_met, missing, -self._first_failed_rank(d, pathway_id), index), {
                "pathway": pathway_id,
                "status": d.status[pathway_id],
                "text": node.text,
                "cite": node.cite,
                "not_met": not_met,
                "not_documented": missing,
                "criteria": parts,
            }))
        entries.sort(key=lambda e: e[0])
        return [e[1] for e in entries]

    def _first_failed_rank(self, d: Derivation, pathway_id: str) -> int:
        """The rank of the earliest concept the pathway fails (not_met, else not_documented) on; a large
        rank when it fails on none, or the kb tags no concepts."""
        if self._concepts is None:
            self._concepts = Concepts(self.kb)
        concepts = self._concepts
        tagged = concepts.tagged_under(d.payer, pathway_id)
        for status in (NOT_MET, NOT_DOCUMENTED):
            ranks = [concepts.concept_of(d.payer, n).rank for n in tagged if d.status.get(n) == status]
            if ranks:
                return min(ranks)
        return 1 << 30

    def criterion(self, d: Derivation, node_id: str) -> dict[str, Any]:
        """One criterion with its status, the policy's words, why, and the parts that decided it."""
        node = self.kb.node(d.payer, node_id)
        status = d.status[node_id]
        entry: dict[str, Any] = {"id": node_id, "status": status, "text": node.text, "cite": node.cite}
        if node.test is not None:
            rows = [r for r in d.rows.get(node_id, []) if r.status == status]
            entry["because"] = list(dict.fromkeys(self.sentence(d, node, r) for r in rows))
            entry["rules"] = self.leaf_rules(node, rows)
        else:
            how = node.how or "all"
            deciding = [p for p in node.parts if d.status[p] in _JUSTIFYING[(how, status)]]
            ids = ", ".join(deciding)
            entry["because"] = [_HOW_WORDS[(how, status)].format(ids=ids)]
            entry["rules"] = [node.where] if node.where else []
            entry["combines"] = how
            entry["parts"] = [self.criterion(d, p) for p in deciding]
        return entry

    def leaf_rules(self, node: Node, rows: list[Row]) -> list[str]:
        kind = node.test[0] if node.test else "*"
        where = [node.test_where] if node.test_where else []
        for r in rows:
            rule = self.kb.rule_where.get((kind, r.status, r.note)) or self.kb.rule_where.get(("*", r.status, r.note))
            if rule:
                where.append(rule)
        return list(dict.fromkeys(where))

    # sentences --------------------------------------------------------------------------------------
    def sentence(self, d: Derivation, node: Node, row: Row) -> str:
        kb = self.kb
        kind, subject, param = node.test or ("", "", "")
        template = kb.sentence(kind, row.status, row.note)
        if template is None:
            return f"{node.id}: {row.status} ({row.note} {row.x} {row.y} {row.z})".strip()
        show = d.request.display
        slots = {
            "subject": kb.field_labels.get(subject, str(subject)),
            "field": subject,
            "param": show(param) if not isinstance(param, str) else param,
            "set": ", ".join(v.replace("_", " ") for v in sorted(kb.sets.get(str(param), []))),
            "class": kb.class_label(str(param)),
            "x": show(row.x),
            "y": show(row.y),
            "z": show(row.z),
            "entry": show(row.x) if row.x == row.y or row.y == "" else f"{show(row.x)} ({show(row.y)})",
            "how": self.how(d, row, kind, param) if row.note == "drug" else "",
        }
        note = d.request.notes.get(subject)
        text = template.format_map(_Slots(slots))
        return f"{text} ({note})" if note and row.status != NOT_DOCUMENTED else text

    def how(self, d: Derivation, row: Row, kind: str, target: Any) -> str:
        """How a drug-list entry was classified: 'Vectibix is panitumumab, an EGFR inhibitor'."""
        kb = self.kb
        written = d.request.display(row.x)
        name, drug, via = str(row.x), str(row.y), str(row.z)
        if via == "class":
            cls = kb.class_aliases.get(name, name)
            chain = kb.wider_classes(cls, str(target))
            text = f"{written}, the class {kb.class_label(cls)}"
            if len(chain) > 1:
                text += f" ({kb.class_label(str(target))})"
            return text
        if via == "is":
            text = written if name == drug else f"{written} is {drug}"
        else:
            label = kb.regimen_labels.get(via, via)
            text = f"{written} contains {drug}" if name == via else f"{written} ({label}) contains {drug}"
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
    def to_document(self, d: Derivation) -> list[dict[str, Any]]:
        """On pend: for each pathway still open, the not-documented facts that would decide it."""
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str, str]] = set()
        for pathway_id in d.candidates:
            if d.status[pathway_id] != NOT_DOCUMENTED:
                continue
            pathway = self.kb.node(d.payer, pathway_id)
            for part in pathway.parts:
                if d.status[part] != NOT_DOCUMENTED:
                    continue
                for leaf, alternatives in self._missing_leaves(d, part, None):
                    node = self.kb.node(d.payer, leaf)
                    kind, subject, _ = node.test or ("", "", "")
                    for row in (r for r in d.rows.get(leaf, []) if r.status == NOT_DOCUMENTED):
                        key = (pathway_id, part, f"{subject}:{row.x}")
                        if key in seen:
                            continue
                        seen.add(key)
                        item: dict[str, Any] = {
                            "pathway": pathway_id,
                            "criterion": part,
                            "node": leaf,
                            "field": subject,
                            "text": node.text,
                            "because": self.sentence(d, node, row),
                        }
                        if row.note == "unknown":
                            item["name"] = d.request.display(row.x)
                        if alternatives:
                            item["any_of"] = alternatives
                        out.append(item)
        return out

    def _missing_leaves(self, d: Derivation, node_id: str, alternatives: str | None) -> list[tuple[str, str | None]]:
        """The not_documented leaves under a not_documented node; parts of an 'any' are alternatives."""
        node = self.kb.node(d.payer, node_id)
        if node.test is not None:
            return [(node_id, alternatives)]
        found: list[tuple[str, str | None]] = []
        group = node_id if node.how == "any" else alternatives
        for part in node.parts:
            if d.status[part] == NOT_DOCUMENTED:
                found += self._missing_leaves(d, part, group)
        return found


class _Slots(dict):
    """format_map slots: an unknown slot stays visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
