"""Concepts: what each criterion asks about, read from the kb, so two payers' criteria can be aligned.

The kb names the concepts (`concept(Concept, Label, Rank)`, kb/vocab/concepts.dl) and each payer tags its
criteria (`tests_concept(Payer, Criterion, Concept)`, kb/payers/*/concepts.dl). A tag covers the criterion
and every part under it. Nothing here knows a concept, a criterion or a payer: `compare` lays rows out by
these tags and `diff` describes its regions by the statuses of tagged criteria.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .kb import KnowledgeBase, natural_key


@dataclass(frozen=True)
class Concept:
    id: str
    label: str
    rank: int


UNTAGGED = Concept("untagged", "Criteria tagged with no concept", 10_000)


class Concepts:
    """The concepts of a kb and the tags of each payer's criteria."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        found = kb.ask("concept", "?C", "?L", "?R") if kb.defined("concept") else []
        ordered = sorted((Concept(str(c), str(label), int(rank)) for c, label, rank in found),
                         key=lambda c: (c.rank, c.id))
        self.by_id: dict[str, Concept] = {c.id: c for c in ordered}
        self.tags: dict[tuple[str, str], str] = {}
        if kb.defined("tests_concept"):
            for payer, node, concept in kb.ask("tests_concept", "?P", "?N", "?C"):
                self.tags[(str(payer), str(node))] = str(concept)

    def ordered(self) -> list[Concept]:
        return list(self.by_id.values())

    def concept(self, concept_id: str) -> Concept:
        return self.by_id.get(concept_id, UNTAGGED)

    def of(self, payer: str, node_id: str) -> str | None:
        """The concept the node itself is tagged with, if any."""
        return self.tags.get((payer, node_id))

    def tagged_under(self, payer: str, node_id: str,
                     parts: Callable[[str], Iterable[str]] | None = None) -> list[str]:
        """The tagged criteria at or under a node, each the topmost tagged one on its branch, in the policy's
        order; a leaf on a branch with no tag stands for itself (its concept is UNTAGGED).

        `parts(node_id)` chooses the parts to walk into (default: all of them), so that a caller can follow
        one derivation rather than the whole policy: `compare` walks only the met alternatives of a met
        "one of the following", since the others decided nothing."""
        out: list[str] = []
        seen: set[str] = set()

        def walk(n: str) -> None:
            if n in seen:
                return
            seen.add(n)
            node = self.kb.node(payer, n)
            if (payer, n) in self.tags or node.test is not None:
                out.append(n)
                return
            for part in (parts(n) if parts is not None else node.parts):
                walk(part)

        walk(node_id)
        return sorted(out, key=natural_key)

    def concept_of(self, payer: str, node_id: str) -> Concept:
        tag = self.of(payer, node_id)
        return self.concept(tag) if tag else UNTAGGED
