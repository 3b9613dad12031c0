"""The answer to a request under one payer, typed (docs/answers.md, docs/answer.schema.json).

The explainer builds it (explain.py); renderers and the analyses read its attributes; `to_json()` is the
one place that gives its JSON, the very dict `decide --json` has always printed (tests/test_answer.py
holds it to goldens the untyped answer wrote): its keys in that order, and an optional field (refer_by,
unclassified, otherwise; a to_document item's question, name, any_of, given; a leaf's combines and parts)
left out when it does not apply, never written as null or []. `from_json()` reads that JSON back, for a
program that holds answers as JSON (to_json(from_json(x)) == x).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

# The version of the answer's format (docs/answers.md): raised when a field changes meaning or goes; a
# field added keeps it.
ANSWER_SCHEMA = "lumakras-answer/1"

Json = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Criterion:
    """A criterion (or a part of one) with its status, the policy's words, why, and, for a criterion made
    of parts, how they combine (`combines`: all, any, not; None for a leaf) and the parts that decided it."""

    id: str
    status: str  # met | not_met | not_documented
    text: str
    cite: str
    because: tuple[str, ...]
    rules: tuple[str, ...]  # the kb file:line each reason rests on
    combines: str | None = None
    parts: tuple[Criterion, ...] = ()
    # a leaf of a request read from FHIR: where the facts it read came from ("diagnosis.kras_g12c:
    # Observation/kras-1, ..."); empty (and left out of the JSON) for a request document
    sources: tuple[str, ...] = ()

    def to_json(self) -> Json:
        out: Json = {"id": self.id, "status": self.status, "text": self.text, "cite": self.cite,
                     "because": list(self.because), "rules": list(self.rules)}
        if self.sources:
            out["sources"] = list(self.sources)
        if self.combines is not None:
            out["combines"] = self.combines
            out["parts"] = [p.to_json() for p in self.parts]
        return out

    @classmethod
    def from_json(cls, j: Json) -> Criterion:
        return cls(id=j["id"], status=j["status"], text=j["text"], cite=j["cite"], because=tuple(j["because"]),
                   rules=tuple(j["rules"]), combines=j.get("combines"), sources=tuple(j.get("sources", ())),
                   parts=tuple(cls.from_json(p) for p in j.get("parts", ())))


@dataclass(frozen=True, kw_only=True)
class Closest:
    """A pathway that came near, on deny and pend: every criterion with its status, and how many were not
    met and not documented (what orders the pathways, nearest first)."""

    pathway: str
    status: str
    other_diagnosis: bool  # a pathway for another diagnosis than the request's (`why` folds it away)
    text: str
    cite: str
    not_met: int
    not_documented: int
    criteria: tuple[Criterion, ...]

    def to_json(self) -> Json:
        return {"pathway": self.pathway, "status": self.status, "other_diagnosis": self.other_diagnosis,
                "text": self.text, "cite": self.cite, "not_met": self.not_met,
                "not_documented": self.not_documented, "criteria": [c.to_json() for c in self.criteria]}

    @classmethod
    def from_json(cls, j: Json) -> Closest:
        return cls(pathway=j["pathway"], status=j["status"], other_diagnosis=j["other_diagnosis"], text=j["text"],
                   cite=j["cite"], not_met=j["not_met"], not_documented=j["not_documented"],
                   criteria=tuple(Criterion.from_json(c) for c in j["criteria"]))


@dataclass(frozen=True, kw_only=True)
class ToDocument:
    """On pend, one fact to send: the field that carries it, for which criterion of which pathway, and
    the question that settles it. The optional parts are None (or empty) where they do not apply."""

    pathway: str
    criterion: str  # the criterion of the pathway it serves
    node: str  # the leaf that reads the field
    field: str  # a dotted path of docs/requests.md
    text: str
    because: str
    question: str | None = None
    name: str | None = None  # the drug-list entry that left it open
    any_of: str | None = None  # the 'one of' whose alternatives would meet it
    given: tuple[str, ...] = ()  # its alternatives not met, with why

    def to_json(self) -> Json:
        out: Json = {"pathway": self.pathway, "criterion": self.criterion, "node": self.node, "field": self.field,
                     "text": self.text, "because": self.because}
        if self.question is not None:
            out["question"] = self.question
        if self.name is not None:
            out["name"] = self.name
        if self.any_of is not None:
            out["any_of"] = self.any_of
        if self.given:
            out["given"] = list(self.given)
        return out

    @classmethod
    def from_json(cls, j: Json) -> ToDocument:
        return cls(pathway=j["pathway"], criterion=j["criterion"], node=j["node"], field=j["field"], text=j["text"],
                   because=j["because"], question=j.get("question"), name=j.get("name"), any_of=j.get("any_of"),
                   given=tuple(j.get("given", ())))


@dataclass(frozen=True, kw_only=True)
class Unclassified:
    """A name of the request the vocabulary does not know, never dropped, and what it may be."""

    field: str
    name: str
    because: str

    def to_json(self) -> Json:
        return {"field": self.field, "name": self.name, "because": self.because}

    @classmethod
    def from_json(cls, j: Json) -> Unclassified:
        return cls(field=j["field"], name=j["name"], because=j["because"])


@dataclass(frozen=True, kw_only=True)
class Otherwise:
    """The policy's own ground of a deny ("Conditions not covered"), and the nodes met that make it so."""

    text: str
    cite: str
    because: tuple[str, ...]

    def to_json(self) -> Json:
        return {"text": self.text, "cite": self.cite, "because": list(self.because)}

    @classmethod
    def from_json(cls, j: Json) -> Otherwise:
        return cls(text=j["text"], cite=j["cite"], because=tuple(j["because"]))


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """What decided the answer, to reproduce and audit it."""

    policy: str
    revision: str
    title: str
    kb_digest: str  # sha256 of the kb files that decide this payer's requests
    kb_files: tuple[str, ...]
    engine: str
    request_source: str
    request_date: dt.date
    schema: str = ANSWER_SCHEMA

    def to_json(self) -> Json:
        return {"schema": self.schema, "policy": self.policy, "revision": self.revision, "title": self.title,
                "kb_digest": self.kb_digest, "kb_files": list(self.kb_files), "engine": self.engine,
                "request_source": self.request_source, "request_date": self.request_date.isoformat()}

    @classmethod
    def from_json(cls, j: Json) -> Provenance:
        return cls(schema=j["schema"], policy=j["policy"], revision=j["revision"], title=j["title"],
                   kb_digest=j["kb_digest"], kb_files=tuple(j["kb_files"]), engine=j["engine"],
                   request_source=j["request_source"], request_date=dt.date.fromisoformat(j["request_date"]))


@dataclass(frozen=True, kw_only=True)
class Answer:
    """One request decided under one payer: the decision, the derived pathway's criteria (approve, refer)
    or the nearest pathways and what to send (deny, pend), and its provenance."""

    request: str
    payer: str
    policy: str
    decision: str  # approve | refer | pend | deny
    pathway: str | None
    approval_months: int | None
    refer_to: str | None
    criteria: tuple[Criterion, ...]
    closest: tuple[Closest, ...]
    to_document: tuple[ToDocument, ...]
    provenance: Provenance
    refer_by: str | None = None  # on refer: the criterion that named the target
    unclassified: tuple[Unclassified, ...] = ()
    otherwise: tuple[Otherwise, ...] | None = None  # on a deny on the policy's own words

    @property
    def nearest(self) -> Closest | None:
        """The nearest pathway (deny, pend), or None."""
        return self.closest[0] if self.closest else None

    def to_json(self) -> Json:
        out: Json = {"request": self.request, "payer": self.payer, "policy": self.policy, "decision": self.decision,
                     "pathway": self.pathway, "approval_months": self.approval_months, "refer_to": self.refer_to,
                     "criteria": [c.to_json() for c in self.criteria],
                     "closest": [c.to_json() for c in self.closest],
                     "to_document": [t.to_json() for t in self.to_document]}
        if self.refer_by is not None:
            out["refer_by"] = self.refer_by
        if self.unclassified:
            out["unclassified"] = [u.to_json() for u in self.unclassified]
        if self.otherwise is not None:
            out["otherwise"] = [o.to_json() for o in self.otherwise]
        out["provenance"] = self.provenance.to_json()
        return out

    @classmethod
    def from_json(cls, j: Json) -> Answer:
        otherwise = j.get("otherwise")
        return cls(request=j["request"], payer=j["payer"], policy=j["policy"], decision=j["decision"],
                   pathway=j["pathway"], approval_months=j["approval_months"], refer_to=j["refer_to"],
                   criteria=tuple(Criterion.from_json(c) for c in j["criteria"]),
                   closest=tuple(Closest.from_json(c) for c in j["closest"]),
                   to_document=tuple(ToDocument.from_json(t) for t in j["to_document"]),
                   provenance=Provenance.from_json(j["provenance"]), refer_by=j.get("refer_by"),
                   unclassified=tuple(Unclassified.from_json(u) for u in j.get("unclassified", ())),
                   otherwise=None if otherwise is None else tuple(Otherwise.from_json(o) for o in otherwise))
