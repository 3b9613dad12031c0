"""What the kb says codes mean (kb/vocab/codes/), as tables the FHIR adapter looks codes up in.

The adapter knows FHIR's structure (where a resource keeps its codes); what a code means for a request
field is kb data: code_system/3, code_label/3, code_means/4, code_strength/3 and observation_reads/3
(docs/authoring.md, "Codes"). A kb without them reads only the codes FHIR itself defines and free text.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..request import name_key, token_key


@dataclass
class CodeBook:
    """The kb's code tables, keyed by (system URI, code)."""

    systems: dict[str, str] = field(default_factory=dict)  # URI -> short id
    labels: dict[str, str] = field(default_factory=dict)  # short id -> label of the system
    displays: dict[tuple[str, str], str] = field(default_factory=dict)  # (short id, code) -> display
    means: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (short, code) -> {field: value}
    strengths: dict[tuple[str, str], float] = field(default_factory=dict)  # (short, code) -> mg per tablet
    reads: dict[tuple[str, str], str] = field(default_factory=dict)  # observation (short, code) -> field
    by_display: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)  # (field, label key)
    names: dict[str, str] = field(default_factory=dict)  # a drug name key the vocabulary knows -> drug id
    known: frozenset[str] = frozenset()  # every name the vocabulary knows (drugs, regimens, classes)
    set_values: frozenset[Any] = frozenset()  # the values the kb's sets (in_set) name
    payers: tuple[str, ...] = ()
    may_be: dict[str, set[str]] = field(default_factory=dict)  # organ-level condition -> what it may be
    condition_names: Any = field(default_factory=dict)  # (field, written) -> condition id (KnowledgeBase)

    def short(self, system: str) -> str | None:
        """The kb's short id of a system URI (None: a system the kb holds no code of)."""
        return self.systems.get(system)

    def meaning(self, system: str, code: str, field_name: str) -> Any:
        """What (system, code) gives field `field_name`, or None. An ICD-10-CM code means what its longest
        listed prefix means (C78.00 as C78): the system nests its codes, as the loader reads them too."""
        short = self.short(system)
        if short is None:
            return None
        for key in _prefixes(code) if short == "icd10cm" else (code,):
            found = self.means.get((short, key), {}).get(field_name)
            if found is not None:
                return found
        return None

    def narrower(self, value: str, other: str) -> bool:
        """Whether condition `other` is one that `value`, an organ-level or primary-unknown condition, may
        be (kb condition_may_be): lung cancer beside NSCLC says less than NSCLC."""
        return self.condition_id(other) in self.may_be.get(self.condition_id(value), ())

    def condition_id(self, written: str) -> str:
        """A diagnosis.condition as written (an id, a synonym, an ICD-10-CM code), as the kb reads it."""
        key = token_key(written)
        return str(self.condition_names.get(("diagnosis.condition", key), key))

    def display(self, system: str, code: str) -> str | None:
        short = self.short(system)
        return None if short is None else self.displays.get((short, code))

    def system_label(self, system: str) -> str:
        short = self.short(system)
        return self.labels.get(short, system) if short else system

    def strength(self, system: str, code: str) -> float | None:
        short = self.short(system)
        return None if short is None else self.strengths.get((short, code))

    def observation_field(self, system: str, code: str) -> str | None:
        short = self.short(system)
        return None if short is None else self.reads.get((short, code))

    def by_label(self, field_name: str, text: str) -> Any:
        """The value a code of `field_name` gives, found by the code's display written as text (a device's
        name, a test method written out): only a label the kb holds, matched whole, case-insensitively."""
        for short, code in self.by_display.get((field_name, name_key(text)), []):
            return self.means[(short, code)][field_name]
        return None


_BOOKS: weakref.WeakKeyDictionary[Any, CodeBook] = weakref.WeakKeyDictionary()


def codebook(kb: Any) -> CodeBook:
    """The code tables of a loaded kb (read once per kb)."""
    book = _BOOKS.get(kb)
    if book is None:
        book = _BOOKS[kb] = build(kb.ask)
        book.known = frozenset(kb.known_names)
        book.payers = tuple(kb.payers())
        book.condition_names = kb.value_aliases
    return book


def build(ask: Any) -> CodeBook:
    """Read the tables with `ask(predicate, *args)` (KnowledgeBase.ask)."""
    book = CodeBook()
    for short, uri, label in ask("code_system", "?S", "?U", "?L"):
        book.systems[str(uri)] = str(short)
        book.labels[str(short)] = str(label)
    for short, code, display in ask("code_label", "?S", "?C", "?D"):
        book.displays[(str(short), str(code))] = str(display)
    for short, code, field_name, value in ask("code_means", "?S", "?C", "?F", "?V"):
        book.means.setdefault((str(short), str(code)), {})[str(field_name)] = value
    for short, code, mg in ask("code_strength", "?S", "?C", "?M"):
        book.strengths[(str(short), str(code))] = mg
    for short, code, field_name in ask("observation_reads", "?S", "?C", "?F"):
        book.reads[(str(short), str(code))] = str(field_name)
    labelled: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for key, meanings in book.means.items():
        display = book.displays.get(key)
        if display:
            for field_name in meanings:
                labelled[(field_name, name_key(display))].append(key)
    book.by_display = dict(labelled)
    book.names = drug_names(ask)
    book.set_values = frozenset(v for _s, v in ask("in_set", "?S", "?V"))
    for organ, named in ask("condition_may_be", "?O", "?N"):
        book.may_be.setdefault(str(organ), set()).add(str(named))
    return book


def drug_names(ask: Any) -> dict[str, str]:
    """Name key -> drug id for every drug and alias of the vocabulary (to tell a sotorasib order written
    as text from another drug's)."""
    out = {str(d): str(d) for (d,) in ask("drug", "?D")}
    out.update({str(a): str(d) for a, d in ask("drug_alias", "?A", "?D")})
    return out


def codings(concept: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """A CodeableConcept's codings (none for a missing concept)."""
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding", []) or [] if isinstance(c, Mapping)]


def _prefixes(code: str) -> list[str]:
    """An ICD-10-CM code and its shorter listed forms, longest first: C78.00, C78.0, C78."""
    category, _, rest = code.partition(".")
    return [f"{category}.{rest[:n]}" if n else category for n in range(len(rest), -1, -1)]
