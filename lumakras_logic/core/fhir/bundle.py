"""FHIR R4 in: a Bundle (a Da Vinci PAS request bundle, or a collection of US Core and mCODE resources)
or a QuestionnaireResponse, read into the request document of docs/requests.md (docs/fhir.md).

One adapter, and the engine unchanged: the adapter writes the request document a person would have
written, with the source of each value, and `parse_request` reads it as it reads any request. The adapter
knows where FHIR keeps things (a Condition's code, an Observation's components, a MedicationRequest's
dosage); what a code means is kb data (kb/vocab/codes/, read through codes.CodeBook). Three values
survive the trip: a resource that is not there leaves its field out (not documented); an explicit
negative (variant absent, a List empty for the reason nil-known, an answer false) is documented as not; a
code the kb does not know is read by its text, and stays an unrecognized entry when the text is no name
the kb knows (readings 16 and 17).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..escape import shown
from ..request import FIELDS, SECTIONS, Request, RequestError, name_key, parse_request, token_key
from .codes import CodeBook, codebook, codings
from .structure import (
    check_structure,
    codings_without_system,
    entry_path,
    references,
    resource_label,
)

REQUEST_SYSTEM = "urn:lumakras-logic:request:"  # the code system of our questionnaire's answer options
NONE = "none"  # a code's meaning "documented as none" for a list field
_GONE = {"entered-in-error", "refuted", "cancelled"}  # statuses that withdraw a resource
_MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
_HISTOLOGY_EXT = _MCODE + "mcode-histology-morphology-behavior"
_PAS_REQUESTED_SERVICE = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-requestedService"
_EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
# FHIR's own codes for how often a dose is taken (v3 GTSAbbreviation), as times per day
_TIMING_CODES = {"QD": 1, "BID": 2, "TID": 3, "QID": 4}
_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1, "wk": 7, "mo": 30.4375, "a": 365.25}
_MG = {"mg", "milligram", "milligrams"}
_TABLET = {"{tbl}", "{tablet}", "{tab}", "tab", "tablet", "tablets", "tbl", "1"}


@dataclass
class Converted:
    """A FHIR input read as a request document: the document, where each value came from, and what was
    read and left out (with why)."""

    doc: dict[str, Any]
    sources: dict[str, dict[str, str]]  # field path -> {entry name key, or "" for the field: source}
    ignored: list[str] = field(default_factory=list)


def is_fhir(doc: Any) -> bool:
    """A parsed document is FHIR when it names a resourceType (a request document has no such field)."""
    return isinstance(doc, Mapping) and "resourceType" in doc


def convert(doc: Mapping[str, Any], source: str, book: CodeBook) -> Converted:
    """Read a FHIR Bundle or QuestionnaireResponse; RequestError (every problem, one line each) when it is
    malformed."""
    problems = check_structure(doc)
    if problems:
        raise _error(source, problems)
    adapter = _Adapter(doc, book)
    problems = adapter.problems_of_references()
    if problems:
        raise _error(source, problems)
    adapter.read()
    if adapter.problems:
        raise _error(source, adapter.problems)
    return Converted(adapter.document(), adapter.sources, adapter.ignored)


def _error(source: str, problems: list[tuple[str, str]]) -> RequestError:
    errors = [RequestError(source, path, message) for path, message in problems]
    errors[0].problems = errors
    return errors[0]


def _date(text: Any) -> dt.date | None:
    """A FHIR date or dateTime's calendar date as written (its own time zone); None for a partial date."""
    if isinstance(text, str) and re.match(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None


def _months(start: dt.date, end: dt.date) -> int:
    """Whole months from start to end, a part month counted whole (a period of 2026-03-01..2026-08-31 is 6)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months + (1 if end.day >= start.day else 0) if end.day != start.day else months


class _Adapter:
    """Reads one bundle. `put` and `add` record each value with its source; a scalar given two different
    values is a problem naming both sources."""

    def __init__(self, doc: Mapping[str, Any], book: CodeBook) -> None:
        self.doc, self.book = doc, book
        self.problems: list[tuple[str, str]] = []
        self.sources: dict[str, dict[str, str]] = {}
        self.ignored: list[str] = []
        self.scalars: dict[str, Any] = {}
        self.lists: dict[str, list[Any]] = {}
        self.none_lists: set[str] = set()
        self.paths: dict[int, str] = {}  # id(resource) -> its path
        self.resources: list[dict[str, Any]] = []
        if doc.get("resourceType") == "Bundle":
            for i, entry in enumerate(doc.get("entry") or []):
                resource = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(resource, Mapping):
                    self.resources.append(resource)  # type: ignore[arg-type]
                    self.paths[id(resource)] = entry_path(doc, i)
        else:
            self.resources.append(doc)  # type: ignore[arg-type]
            self.paths[id(doc)] = str(doc.get("resourceType"))
        self.full_urls = {}
        for entry in doc.get("entry") or [] if doc.get("resourceType") == "Bundle" else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("fullUrl"), str) and \
                    isinstance(entry.get("resource"), Mapping):
                self.full_urls[entry["fullUrl"]] = entry["resource"]
        self.by_ref: dict[str, dict[str, Any]] = {}
        for r in self.resources:
            if isinstance(r.get("id"), str):
                self.by_ref[f"{r['resourceType']}/{r['id']}"] = r

    # references ------------------------------------------------------------------------------------
    def resolve(self, ref: Any) -> dict[str, Any] | None:
        """The resource a Reference names: by the entry's fullUrl, by Type/id, or by an absolute URL's
        Type/id (a version's /_history/N dropped)."""
        text = ref.get("reference") if isinstance(ref, Mapping) else ref
        if not isinstance(text, str):
            return None
        if text in self.full_urls:
            return self.full_urls[text]  # type: ignore[return-value]
        plain = re.sub(r"/_history/[^/]+$", "", text)
        m = re.search(r"([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})$", plain)
        return self.by_ref.get(m.group(1)) if m else None

    def problems_of_references(self) -> list[tuple[str, str]]:
        out = []
        for r in self.resources:
            path = self.paths[id(r)]
            contained = {c.get("id") for c in r.get("contained") or [] if isinstance(c, Mapping)}
            for where, ref in references(r, path):
                if ref.startswith("#"):
                    if ref[1:] not in contained and ref != "#":
                        out.append((where, f"reference {shown(ref)} names no contained resource"))
                elif self.resolve(ref) is None:
                    out.append((where, f"reference {shown(ref)} names no resource of the bundle"))
            for where in codings_without_system(r, path):
                out.append((where, "a coding with a code must name its system (a code means nothing without it)"))
        patients = [r for r in self.resources if r.get("resourceType") == "Patient"]
        if len(patients) > 1:
            out.append(("Bundle.entry", "the bundle holds " + ", ".join(resource_label(p) for p in patients)
                        + ": a request is about one member"))
        return out

    # recording -------------------------------------------------------------------------------------
    def where(self, r: Mapping[str, Any]) -> str:
        return resource_label(r)

    def put(self, path: str, value: Any, source: str) -> None:
        """A scalar field's value from one source; a second source giving another value is a problem."""
        if path in self.scalars and self.scalars[path] != value:
            earlier = self.sources[path][""]
            self.problems.append((path, f"{source} gives {shown(value)}, but {earlier} gives "
                                        f"{shown(self.scalars[path])}"))
            return
        if path in self.scalars:
            if source not in self.sources[path][""]:
                self.sources[path][""] += f"; {source}"
            return
        self.scalars[path] = value
        self.sources.setdefault(path, {})[""] = source

    def add(self, path: str, name: Any, source: str) -> None:
        """An entry of a list field (a drug, a disease state)."""
        entries = self.lists.setdefault(path, [])
        key = name_key(str(name))
        if name not in entries:
            entries.append(name)
        known = self.sources.setdefault(path, {})
        if key not in known:
            known[key] = source
        elif source not in known[key]:
            known[key] += f"; {source}"

    def documented_none(self, path: str, source: str) -> None:
        """A list field documented as empty (a List empty for nil-known, a 'no known' code)."""
        self.none_lists.add(path)
        self.lists.setdefault(path, [])
        self.sources.setdefault(path, {}).setdefault("", source)

    def ignore(self, r: Mapping[str, Any], why: str) -> None:
        self.ignored.append(f"{self.where(r)}: {why}")

    # coded values ----------------------------------------------------------------------------------
    def coded(self, concept: Any) -> str:
        """A CodeableConcept as a source says it: 'SNOMED CT 254637007 = Non-small cell lung cancer'."""
        out = []
        for c in codings(concept):
            label = self.book.system_label(str(c.get("system")))
            display = c.get("display") or self.book.display(str(c.get("system")), str(c.get("code")))
            out.append(f"{label} {c.get('code')}" + (f" = {display}" if display else ""))
        if not out and isinstance(concept, Mapping) and concept.get("text"):
            out.append(f"text {shown(concept['text'])}")
        return "; ".join(out)

    def meaning(self, concept: Any, path: str) -> tuple[Any, Mapping[str, Any] | None]:
        """What a concept's first known coding gives field `path`, with that coding."""
        for c in codings(concept):
            value = self.book.meaning(str(c.get("system")), str(c.get("code")), path)
            if value is not None:
                return value, c
        return None, None

    def text_of(self, concept: Any) -> str | None:
        """A concept's words: its text, else its first coding's display."""
        if isinstance(concept, Mapping) and isinstance(concept.get("text"), str) and concept["text"].strip():
            return concept["text"].strip()
        for c in codings(concept):
            if isinstance(c.get("display"), str) and c["display"].strip():
                return c["display"].strip()
        return None

    def drug_name(self, concept: Any) -> str | None:
        """The drug-list entry a medication concept stands for: the kb's name for a code it knows; else
        the concept's words, read like any written name; else 'RxNorm 123', a name no vocabulary holds."""
        value, _ = self.meaning(concept, "drug")
        if value is not None:
            return str(value) if str(value) in self.book.known else str(value).replace("_", " ")
        text = self.text_of(concept)
        if text:
            return self.clinical_drug(text) or text
        c = next(iter(codings(concept)), None)
        return f"{self.book.system_label(str(c.get('system')))} {c.get('code')}" if c else None

    def clinical_drug(self, text: str) -> str | None:
        """The drugs a clinical drug's name says, RxNorm's way: 'pembrolizumab 25 MG/ML Injectable
        Solution' is pembrolizumab; 'carboplatin 10 MG/ML / paclitaxel 6 MG/ML' is carboplatin +
        paclitaxel. Only when every component is a name the kb knows followed by its strength; anything
        else stays the words as written (never a drug dropped)."""
        names = []
        for part in re.split(r"\s+/\s+", text.strip()):
            m = re.match(r"^(\D+?)\s+\d", part)
            if m is None or name_key(m.group(1)) not in self.book.known:
                return None
            names.append(m.group(1).strip())
        return " + ".join(names) if names else None

    def medication(self, r: Mapping[str, Any]) -> Any:
        """A Medication* resource's medication as a concept (a referenced Medication's code)."""
        if "medicationCodeableConcept" in r:
            return r["medicationCodeableConcept"]
        ref = (r.get("medicationReference") or {}).get("reference")
        if isinstance(ref, str) and ref.startswith("#"):
            med = next((c for c in r.get("contained") or [] if c.get("id") == ref[1:]), None)
        else:
            med = self.resolve(r.get("medicationReference"))
        return med.get("code") if med else None

    def is_sotorasib(self, concept: Any) -> bool:
        """An order of sotorasib: by a code the kb knows, or by words that are, or begin with, one of its
        names ('Lumakras', 'sotorasib 120 MG Oral Tablet')."""
        value, _ = self.meaning(concept, "drug")
        if value is not None:
            return str(value) == "sotorasib"
        words = [self.text_of(concept) or ""] + [str(c.get("display") or "") for c in codings(concept)]
        for text in filter(None, words):
            first = re.split(r"[\s(]+", text.strip().lower(), maxsplit=1)[0]
            if "sotorasib" in (self.book.names.get(name_key(text)), self.book.names.get(first)):
                return True
        return False

    # reading ---------------------------------------------------------------------------------------
    def of_type(self, *kinds: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r.get("resourceType") in kinds and not self.withdrawn(r)]

    def withdrawn(self, r: Mapping[str, Any]) -> bool:
        status = r.get("status")
        verification = {c.get("code") for c in codings(r.get("verificationStatus"))}
        return status in _GONE or bool(verification & _GONE)

    def read(self) -> None:
        self.read_all()
        for path in sorted(self.none_lists):
            if FIELDS[path].kind == "names" and self.lists.get(path):
                named = "; ".join(v for k, v in self.sources[path].items() if k)
                self.problems.append((path, f"{self.sources[path]['']} documents none, but {named} "
                                            f"names {', '.join(map(str, self.lists[path]))}"))
            elif self.lists.get(path):  # a stage of none earlier, a disease state now: the state
                self.sources[path].pop("", None)

    def read_all(self) -> None:
        claim = next(iter(self.of_type("Claim")), None)
        self.claim = claim
        self.read_identity(claim)
        self.read_patient()
        self.read_coverage(claim)
        self.read_conditions(claim)
        self.read_observations()
        order = self.read_order(claim)
        self.read_prescriber(order, claim)
        self.read_history(order)
        self.read_allergies()
        self.read_lists()
        for qr in self.of_type("QuestionnaireResponse"):
            self.read_answers(qr)
        for r in self.resources:
            if r.get("resourceType") in _GONE_TYPES_NOTE and self.withdrawn(r):
                verification = [c.get("code") for c in codings(r.get("verificationStatus"))]
                said = f"status {r['status']}" if r.get("status") in _GONE else \
                    f"verification status {', '.join(map(str, verification))}"
                self.ignore(r, f"{said}: withdrawn, not read")

    def read_identity(self, claim: Mapping[str, Any] | None) -> None:
        doc = self.doc
        for r, ids in ((claim, (claim or {}).get("identifier")), (doc, [doc.get("identifier")])):
            for ident in ids or []:
                if isinstance(ident, Mapping) and ident.get("value"):
                    self.put("id", str(ident["value"]), f"{self.where(r)}.identifier")  # type: ignore[arg-type]
                    break
            if "id" in self.scalars:
                break
        if "id" not in self.scalars and isinstance(doc.get("id"), str):
            self.put("id", doc["id"], f"{self.where(doc)}.id")
        for r, key in ((claim, "created"), (doc, "timestamp"), (doc, "authored")):
            day = _date((r or {}).get(key))
            if day is not None:
                self.put("date", day.isoformat(), f"{self.where(r)}.{key}")  # type: ignore[arg-type]
                break

    def read_patient(self) -> None:
        for p in self.of_type("Patient"):
            born = p.get("birthDate")
            if born is None:
                continue
            day = _date(born)
            if day is None:
                self.ignore(p, f"birthDate {shown(born)} is not a full date: the age is not documented")
            else:
                self.put("member.birth_date", day.isoformat(), f"{self.where(p)}.birthDate {born}")

    def read_coverage(self, claim: Mapping[str, Any] | None) -> None:
        for cov in self.of_type("Coverage"):
            value, c = self.meaning(cov.get("type"), "line_of_business")
            if value is not None:
                self.put("line_of_business", value, f"{self.where(cov)}.type, {self.coded({'coding': [c]})}")
            elif cov.get("type"):
                self.ignore(cov, f"type {self.coded(cov.get('type'))} is no line of business the kb reads")
            for payor in cov.get("payor") or []:
                self.read_payer(self.resolve(payor), f"{self.where(cov)}.payor")
        if claim is not None:
            self.read_payer(self.resolve(claim.get("insurer")), f"{self.where(claim)}.insurer")

    def read_payer(self, org: Mapping[str, Any] | None, via: str) -> None:
        """The payer, when the kb's payer id is a word of the organization's name ('Cigna Healthcare')."""
        if not org or org.get("resourceType") != "Organization" or not isinstance(org.get("name"), str):
            return
        words = set(re.findall(r"[a-z0-9]+", org["name"].lower()))
        found = sorted(p for p in self.book.payers if p in words)
        if len(found) == 1:
            self.put("payer", found[0], f"{via} {self.where(org)} {shown(org['name'])}")

    # the cancer ------------------------------------------------------------------------------------
    def read_conditions(self, claim: Mapping[str, Any] | None) -> None:
        chosen: list[tuple[Mapping[str, Any], Any]] = []  # (resource or claim, concept)
        if claim is not None and claim.get("diagnosis"):
            ranked = sorted(claim["diagnosis"], key=lambda d: d.get("sequence", 0))
            principal = ranked[0]
            if principal.get("diagnosisReference"):
                cond = self.resolve(principal["diagnosisReference"])
                if cond is not None:
                    chosen.append((cond, cond.get("code")))
            elif principal.get("diagnosisCodeableConcept"):
                chosen.append((claim, principal["diagnosisCodeableConcept"]))
        conditions = self.of_type("Condition")
        for cond in conditions:
            state, c = self.meaning(cond.get("code"), "diagnosis.disease_state")
            if state is not None:  # a secondary (metastatic) neoplasm: a disease state, not the cancer
                self.state(state, f"{self.where(cond)}.code, {self.coded({'coding': [c]})}")
            for stage in cond.get("stage") or []:
                self.read_state(cond, stage.get("summary"), ".stage.summary")
        if not chosen:
            primary = [c for c in conditions if any(str(p).startswith(_MCODE + "mcode-primary-cancer-condition")
                                                    for p in (c.get("meta") or {}).get("profile") or [])]
            chosen = [(c, c.get("code")) for c in (primary or [c for c in conditions if self.is_cancer(c)
                                                                and not self.is_secondary(c)])]
        values: dict[str, str] = {}
        for r, concept in chosen:
            value, source = self.condition(concept)
            if value is None:
                continue
            values.setdefault(value, f"{self.where(r)}.code, {source}")
            histology = next((e.get("valueCodeableConcept") for e in r.get("extension") or []
                              if e.get("url") == _HISTOLOGY_EXT), None)
            if histology is not None:
                kind, c = self.meaning(histology, "diagnosis.histology")
                if kind is not None:
                    self.put("diagnosis.histology", kind, f"{self.where(r)} histology, {self.coded({'coding': [c]})}")
                else:
                    self.ignore(r, f"histology {self.coded(histology)} is none the kb reads: not documented")
        # an organ-level diagnosis beside the one it may be (C34.90 and NSCLC) says less: the other stands
        values = {v: src for v, src in values.items() if not any(self.book.narrower(v, w) for w in values if w != v)}
        if len(values) > 1:
            self.problems.append(("diagnosis.condition", "the bundle names several cancers (" + "; ".join(
                f"{shown(v)} from {s}" for v, s in values.items()) + "): name the one this request is for "
                "as the Claim's principal diagnosis"))
        for value, source in values.items():
            self.put("diagnosis.condition", value, source)

    def is_secondary(self, cond: Mapping[str, Any]) -> bool:
        """A secondary (metastatic) neoplasm: its code gives a disease state and no cancer (SNOMED
        128462008, ICD-10-CM C78, C79), or it has mCODE's secondary cancer profile."""
        code = cond.get("code")
        if any("mcode-secondary-cancer-condition" in str(p) for p in (cond.get("meta") or {}).get("profile") or []):
            return True
        return self.meaning(code, "diagnosis.disease_state")[0] is not None and \
            self.meaning(code, "diagnosis.condition")[0] is None

    def is_cancer(self, cond: Mapping[str, Any]) -> bool:
        """A Condition whose code the kb reads as a condition, or an ICD-10-CM neoplasm code (C, D0-D4)."""
        if self.meaning(cond.get("code"), "diagnosis.condition")[0] is not None:
            return True
        return any(str(c.get("system")) == _ICD10CM and re.match(r"(C|D[0-4])", str(c.get("code")))
                   for c in codings(cond.get("code")))

    def condition(self, concept: Any) -> tuple[str | None, str]:
        """diagnosis.condition as written from a concept: a condition id for a code the kb knows, an
        ICD-10-CM code as it is (the kb reads those by prefix), else the concept's words."""
        value, c = self.meaning(concept, "diagnosis.condition")
        if value is not None:
            return str(value), self.coded({"coding": [c]})
        for c in codings(concept):
            if str(c.get("system")) == _ICD10CM:
                return str(c.get("code")), self.coded({"coding": [c]})
        text = self.text_of(concept)
        if text:
            return text, self.coded(concept)
        c = next(iter(codings(concept)), None)
        if c is not None:
            return f"{self.book.system_label(str(c.get('system')))} {c.get('code')}", self.coded(concept)
        return None, ""

    def state(self, value: Any, source: str) -> None:
        if value == NONE:
            self.documented_none("diagnosis.disease_state", source)
        else:
            self.add("diagnosis.disease_state", str(value), source)

    def read_state(self, r: Mapping[str, Any], concept: Any, where: str) -> None:
        if not concept:
            return
        value, c = self.meaning(concept, "diagnosis.disease_state")
        if value is None:
            self.ignore(r, f"stage {self.coded(concept)} is none the kb reads: the disease state is not documented")
            return
        self.state(value, f"{self.where(r)}{where}, {self.coded({'coding': [c]})}")

    # observations ----------------------------------------------------------------------------------
    def read_observations(self) -> None:
        latest: dict[str, tuple[str, Any, str]] = {}
        for obs in self.of_type("Observation"):
            kind = self.observation_kind(obs)
            if kind == "variant":
                self.read_variant(obs)
            elif kind == "diagnosis.disease_state":
                self.read_state(obs, obs.get("valueCodeableConcept"), ".value")
            elif kind is not None:
                value, c = self.meaning(obs.get("valueCodeableConcept"), kind)
                if value is None:
                    self.ignore(obs, f"value {self.coded(obs.get('valueCodeableConcept'))} is none the kb "
                                     f"reads for {kind}: not documented")
                    continue
                when = str(obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("start") or "")
                if kind not in latest or when > latest[kind][0]:
                    said = f"{self.where(obs)}, {self.coded(obs.get('code'))}: {self.coded({'coding': [c]})}"
                    latest[kind] = (when, value, said + (f" on {when[:10]}" if when else ""))
            else:
                self.ignore(obs, f"code {self.coded(obs.get('code'))} is no observation the kb reads")
        for kind, (_when, value, source) in latest.items():
            spec = FIELDS.get(kind)
            self.put(kind, (value == "true") if spec and spec.kind == "bool" else value, source)

    def observation_kind(self, obs: Mapping[str, Any]) -> str | None:
        for c in codings(obs.get("code")):
            system, code = str(c.get("system")), str(c.get("code"))
            if self.book.meaning(system, code, "kras_variant_observation") == "variant":
                return "variant"
            found = self.book.observation_field(system, code)
            if found:
                return found
        return None

    def read_variant(self, obs: Mapping[str, Any]) -> None:
        """A genetic variant assessment: KRAS G12C positive when the gene studied is KRAS, the amino-acid
        change p.Gly12Cys, and the variant present; negative when it is absent. A result about another
        change says nothing of G12C."""
        gene = change = None
        said = [self.coded(obs.get("code"))]
        for comp in obs.get("component") or []:
            role, _ = self.meaning(comp.get("code"), "kras_variant_component")
            concept = comp.get("valueCodeableConcept")
            words = comp.get("valueString") or self.text_of(concept) or ""
            if role == "gene":
                gene, _ = self.meaning(concept, "kras_variant_gene")
            elif role == "change":
                change, _ = self.meaning(concept, "kras_variant_change")
                if change is None and words:
                    change = self.book.by_label("kras_variant_change", words)
            if role is not None:
                code = next((c.get("code") for c in codings(comp.get("code"))), "")
                said.append(f"{code} = {shown(words) if '=' in words else words}")
        result, rc = self.meaning(obs.get("valueCodeableConcept"), "kras_variant_result")
        if gene != "kras" or change != "g12c" or result not in ("present", "absent"):
            why = ("the gene studied is not KRAS" if gene != "kras" else
                   "the change is not G12C" if change != "g12c" else "its result is neither present nor absent")
            self.ignore(obs, f"variant result not read: {why}")
            return
        said.append(f"{rc.get('code')} {rc.get('display') or result}" if rc else result)
        self.put("diagnosis.kras_g12c", "positive" if result == "present" else "negative",
                 f"{self.where(obs)}, " + ", ".join(said))
        test, how = self.meaning(obs.get("method"), "diagnosis.kras_test")
        device = self.resolve(obs.get("device"))
        words = [self.text_of(obs.get("method")) or ""]
        for name in (device or {}).get("deviceName") or []:
            words.append(str(name.get("name") or ""))
        if test is None:
            test = next((v for w in words if w and (v := self.book.by_label("diagnosis.kras_test", w))), None)
            how = {"display": next((w for w in words if w), "")}
        if test is not None:
            self.put("diagnosis.kras_test", test, f"{self.where(obs)} test: {how.get('display') or how.get('code')}")
        elif any(words):
            self.ignore(obs, f"test {shown(next(w for w in words if w))} is none the kb knows: how the mutation "
                             "was determined is not documented")

    # the order -------------------------------------------------------------------------------------
    def read_order(self, claim: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The sotorasib MedicationRequest: the one the Claim's item names, else the active one."""
        orders: list[Mapping[str, Any]] = []
        for item in (claim or {}).get("item") or []:
            for ext in item.get("extension") or []:
                if ext.get("url") == _PAS_REQUESTED_SERVICE:
                    r = self.resolve(ext.get("valueReference"))
                    if r is not None and r.get("resourceType") == "MedicationRequest":
                        orders.append(r)
            if not orders and self.is_sotorasib(item.get("productOrService")):
                self.read_product(claim, item.get("productOrService"), ".item.productOrService")  # type: ignore[arg-type]
            period = item.get("servicedPeriod") or {}
            start, end = _date(period.get("start")), _date(period.get("end"))
            if start and end and end > start:
                self.put("requested_months", _months(start, end),
                         f"{self.where(claim)}.item.servicedPeriod {start}..{end}")  # type: ignore[arg-type]
        if not orders:
            orders = [r for r in self.of_type("MedicationRequest")
                      if r.get("status") not in ("completed", "stopped") and self.is_sotorasib(self.medication(r))]
        if len(orders) > 1:
            self.problems.append(("medication", "the bundle holds several sotorasib orders ("
                                  + ", ".join(self.where(o) for o in orders) + "): a request is for one"))
            return None
        order = orders[0] if orders else None
        if order is None:
            return None
        concept = self.medication(order)
        self.read_product(order, concept, ".medication")
        self.read_dose(order, concept)
        validity = (order.get("dispenseRequest") or {}).get("validityPeriod") or {}
        start, end = _date(validity.get("start")), _date(validity.get("end"))
        if start and end and end > start and "requested_months" not in self.scalars:
            self.put("requested_months", _months(start, end),
                     f"{self.where(order)}.dispenseRequest.validityPeriod {start}..{end}")
        self.read_group(order)
        return order

    def read_product(self, r: Mapping[str, Any], concept: Any, where: str) -> None:
        """Brand or generic: a code the kb says is one; else the order's words when their first word is a
        product the request document names ('Lumakras 120 mg tablet', 'sotorasib 120 MG Oral Tablet')."""
        product, c = self.meaning(concept, "medication.product")
        if product is not None:
            self.put("medication.product", product, f"{self.where(r)}{where}, {self.coded({'coding': [c]})}")
            return
        words = [w for c in codings(concept) for w in [c.get("display")] if isinstance(w, str)]
        words = [concept.get("text")] + words if isinstance(concept, Mapping) and concept.get("text") else words
        for text in words:
            first = re.split(r"[\s(]+", str(text).strip().lower(), maxsplit=1)[0]
            if first in FIELDS["medication.product"].choices:
                self.put("medication.product", first, f"{self.where(r)}{where}, written {shown(text)}")
                return
        if concept:
            self.ignore(r, f"medication {self.coded(concept)}: no code of it says brand or generic, so the "
                           "product is not documented")

    def read_dose(self, order: Mapping[str, Any], concept: Any) -> None:
        """mg per day from the one dosage instruction: dose × times per period."""
        dosage = order.get("dosageInstruction") or []
        if len(dosage) != 1:
            if dosage:
                self.ignore(order, "more than one dosage instruction: the dose per day is not documented")
            return
        d = dosage[0]
        quantity = next((x.get("doseQuantity") for x in d.get("doseAndRate") or [] if x.get("doseQuantity")), None)
        if not quantity or not isinstance(quantity.get("value"), (int, float)):
            return
        unit = str(quantity.get("code") or quantity.get("unit") or "").lower()
        amount = float(quantity["value"])
        if unit not in _MG:
            strength = next((s for c in codings(concept)
                             if (s := self.book.strength(str(c.get("system")), str(c.get("code")))) is not None), None)
            if unit not in _TABLET or strength is None:
                self.ignore(order, f"dose in {shown(unit or 'no unit')}: not mg, nor tablets of a product whose "
                                   "strength the kb holds; the dose per day is not documented")
                return
            amount *= float(strength)
        timing = d.get("timing") or {}
        repeat = timing.get("repeat") or {}
        times = None
        if repeat.get("frequency") and repeat.get("period") and repeat.get("periodUnit") in _PERIOD_DAYS:
            times = repeat["frequency"] / (repeat["period"] * _PERIOD_DAYS[repeat["periodUnit"]])
        else:
            code = next((c.get("code") for c in codings(timing.get("code"))), None)
            times = _TIMING_CODES.get(str(code))
        if times is None:
            self.ignore(order, "the dosage gives no frequency: the dose per day is not documented")
            return
        per_day = amount * times
        per_day_value: int | float = int(per_day) if float(per_day).is_integer() else round(per_day, 3)
        self.put("medication.dose_mg_per_day", per_day_value,
                 f"{self.where(order)}.dosageInstruction: {quantity['value']} {quantity.get('unit') or unit} "
                 f"× {times:g} a day")

    def read_group(self, order: Mapping[str, Any]) -> None:
        """medication.with: the other orders of the sotorasib order's prescription group (same
        groupIdentifier); an order alone in its group is documented monotherapy."""
        group = order.get("groupIdentifier")
        if not isinstance(group, Mapping) or not group.get("value"):
            return
        others = [r for r in self.of_type("MedicationRequest") if r is not order and self.same_group(r, order)
                  and r.get("status") not in ("completed", "stopped")]
        if not others:
            self.documented_none("medication.with", f"{self.where(order)}.groupIdentifier {group.get('value')}: "
                                                    "no other order in the group")
        for r in others:
            name = self.drug_name(self.medication(r))
            if name:
                self.add("medication.with", name, f"{self.where(r)}, same group as {self.where(order)}, "
                                                  f"{self.coded(self.medication(r))}")

    @staticmethod
    def same_group(r: Mapping[str, Any], order: Mapping[str, Any]) -> bool:
        """Two orders of one prescription (the same groupIdentifier, system and value)."""
        a, b = r.get("groupIdentifier"), order.get("groupIdentifier")
        return isinstance(a, Mapping) and isinstance(b, Mapping) and bool(b.get("value")) and \
            (a.get("system"), a.get("value")) == (b.get("system"), b.get("value"))

    def read_prescriber(self, order: Mapping[str, Any] | None, claim: Mapping[str, Any] | None) -> None:
        roles = self.of_type("PractitionerRole")
        chosen = None
        for ref in ((order or {}).get("requester"), (claim or {}).get("provider")):
            r = self.resolve(ref)
            if r is None:
                continue
            if r.get("resourceType") == "PractitionerRole":
                chosen = r
            elif r.get("resourceType") == "Practitioner":
                mine = [x for x in roles if self.resolve(x.get("practitioner")) is r]
                chosen = mine[0] if len(mine) == 1 else None
            if chosen is not None:
                break
        if chosen is None and len(roles) == 1:
            chosen = roles[0]
        if chosen is None:
            return
        specialties = chosen.get("specialty") or []
        read = []
        for concept in specialties:
            value, c = self.meaning(concept, "prescriber.specialty")
            if value is not None:
                read.append((str(value), self.coded({"coding": [c]})))
            elif self.text_of(concept):
                read.append((token_key(self.text_of(concept) or ""), self.coded(concept)))
        if not read:
            return
        # a role with several specialties: the one the policies' sets name, if any (Internal Medicine and
        # Medical Oncology is an oncologist)
        best = next((x for x in read if x[0] in self.book.set_values), read[0])
        also = [s for v, s in read if (v, s) != best]
        self.put("prescriber.specialty", best[0], f"{self.where(chosen)}.specialty, {best[1]}"
                 + (f" (also: {'; '.join(also)})" if also else ""))

    # history ---------------------------------------------------------------------------------------
    def read_history(self, order: Mapping[str, Any] | None) -> None:
        """prior_therapies from MedicationStatements, MedicationAdministrations and finished
        MedicationRequests of cancer drugs; an active sotorasib statement is the therapy being continued."""
        cancer = {id(c) for c in self.of_type("Condition")}
        for r in self.of_type("MedicationStatement", "MedicationAdministration", "MedicationRequest"):
            if r is order:
                continue
            kind, status = r.get("resourceType"), r.get("status")
            concept = self.medication(r)
            if kind == "MedicationRequest" and status not in ("completed", "stopped"):
                if order is None or not self.same_group(r, order):  # the group's orders are medication.with
                    self.ignore(r, "an order that is neither the sotorasib order nor one of its group, nor "
                                   "finished: not read")
                continue
            if status in ("not-taken", "unknown", "intended"):
                self.ignore(r, f"status {status}: not a therapy received")
                continue
            if self.is_sotorasib(concept) and kind == "MedicationStatement" and status in ("active", "on-hold"):
                self.read_current(r)
                continue
            name = self.drug_name(concept)
            related = any(self.resolve(x) is not None and id(self.resolve(x)) in cancer
                          for x in r.get("reasonReference") or []) or \
                any(_MCODE in str(p) for p in (r.get("meta") or {}).get("profile") or [])
            if name is None:
                continue
            if not (related or self.meaning(concept, "drug")[0] is not None
                    or name_key(name) in self.book.names or name_key(name) in self.book.known):
                self.ignore(r, f"{shown(name)}: not a cancer drug the kb knows, nor given for the cancer "
                               "(reasonReference, mCODE profile): not read as a prior therapy")
                continue
            when = r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start") or ""
            self.add("prior_therapies", name, f"{self.where(r)} ({status}{', from ' + when[:10] if when else ''}), "
                                               f"{self.coded(concept)}")

    def read_current(self, r: Mapping[str, Any]) -> None:
        """An active sotorasib statement: a continuation, and the days on therapy since it started."""
        start = _date(r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start"))
        self.put("request_type", "continuation", f"{self.where(r)}: sotorasib {r.get('status')}")
        if start is not None:
            self.current_start = (start, self.where(r))

    def read_allergies(self) -> None:
        for r in self.of_type("AllergyIntolerance"):
            clinical = {c.get("code") for c in codings(r.get("clinicalStatus"))}
            if clinical & {"inactive", "resolved"}:
                self.ignore(r, f"clinical status {', '.join(sorted(clinical))}: not read")
                continue
            categories = set(r.get("category") or [])
            if categories and "medication" not in categories:
                self.ignore(r, f"an allergy or intolerance to {', '.join(sorted(categories))}, not a medication: "
                               "not read")
                continue
            value, c = self.meaning(r.get("code"), "intolerant_to")
            if value == NONE:
                self.documented_none("intolerant_to", f"{self.where(r)}, {self.coded({'coding': [c]})}")
                continue
            name = self.drug_name(r.get("code"))
            if name:
                self.add("intolerant_to", name, f"{self.where(r)} ({r.get('type') or 'allergy or intolerance'}), "
                                                f"{self.coded(r.get('code'))}")

    def read_lists(self) -> None:
        """A List whose code says what it lists, empty for the reason nil-known: documented as none."""
        for r in self.of_type("List"):
            target, _ = self.meaning(r.get("code"), "list")
            if target is None:
                continue
            if r.get("entry"):
                continue  # its entries are resources of the bundle, read as such
            reason = {c.get("code") for c in codings(r.get("emptyReason")) if c.get("system") == _EMPTY_REASON}
            if "nilknown" in reason:
                self.documented_none(str(target), f"{self.where(r)}, {self.coded(r.get('code'))}: empty, "
                                                  "nil known")
            else:
                self.ignore(r, f"an empty list{' (' + ', '.join(sorted(reason)) + ')' if reason else ''}: "
                               f"{target} is not documented (only nil-known documents none)")

    # questionnaire answers -------------------------------------------------------------------------
    def read_answers(self, qr: Mapping[str, Any]) -> None:
        path = self.paths.get(id(qr), "QuestionnaireResponse")
        for i, item in enumerate(qr.get("item") or []):
            self.read_item(qr, item, f"{path}.item[{i}]")

    def read_item(self, qr: Mapping[str, Any], item: Mapping[str, Any], path: str) -> None:
        link = str(item.get("linkId"))
        answers = item.get("answer") or []
        if link not in FIELDS and link not in ("member.birth_date",):
            if link in SECTIONS or (item.get("item") and not answers):
                for j, sub in enumerate(item.get("item") or []):
                    self.read_item(qr, sub, f"{path}.item[{j}]")
                return
            self.problems.append((f"{path}.linkId", f"{shown(link)} is no field of the request "
                                                    "(docs/requests.md; lumakras questionnaire writes the items)"))
            return
        if not answers:
            return
        spec = FIELDS[link]
        source = f"{self.where(qr)} item {link}"
        values = [self.answer_value(a, link) for a in answers]
        if spec.kind in ("names", "choice_list"):
            if any(isinstance(v, str) and v.strip().lower() == NONE for v in values):
                self.documented_none(link, f"{source}: none")
            for v in values:
                if not (isinstance(v, str) and v.strip().lower() == NONE):
                    self.add(link, v, source)
            return
        if len(values) > 1:
            self.problems.append((f"{path}.answer", f"{link} takes one answer, got {len(values)}"))
            return
        self.put(link, values[0], f"{source} = {shown(values[0])}")

    def answer_value(self, answer: Mapping[str, Any], link: str) -> Any:
        for key in ("valueBoolean", "valueInteger", "valueDecimal", "valueDate", "valueString"):
            if key in answer:
                return answer[key]
        if "valueDateTime" in answer:
            return str(answer["valueDateTime"])[:10]
        if "valueQuantity" in answer:
            return (answer["valueQuantity"] or {}).get("value")
        coding = answer.get("valueCoding")
        if isinstance(coding, Mapping):
            system, code = str(coding.get("system")), coding.get("code")
            if system == REQUEST_SYSTEM + link:
                return code
            kind = FIELDS[link].kind
            meant = self.book.meaning(system, str(code), "drug" if kind == "names" else link)
            if meant is not None:
                return meant
            return coding.get("display") or f"{self.book.system_label(system)} {code}"
        return None

    # the document ----------------------------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        start = getattr(self, "current_start", None)
        day = _date(self.scalars.get("date"))
        if start is not None and day is not None and "continuation.days_on_therapy" not in self.scalars \
                and day >= start[0]:
            self.put("continuation.days_on_therapy", (day - start[0]).days,
                     f"{start[1]}: since {start[0].isoformat()}, to the request date")
        doc: dict[str, Any] = {}
        values = {**self.scalars, **self.lists}
        for path in FIELDS:
            if path not in values:
                continue
            if "." in path:
                section, name = path.split(".", 1)
                doc.setdefault(section, {})[name] = values[path]
            else:
                doc[path] = values[path]
        return doc


_ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
_GONE_TYPES_NOTE = ("Condition", "Observation", "MedicationStatement", "MedicationRequest", "AllergyIntolerance",
                    "MedicationAdministration")



def request_from_fhir(doc: Mapping[str, Any], source: str, payers: tuple[str, ...], today: dt.date | None,
                      kb: Any) -> Request:
    """The Request a FHIR input stands for, each value with its source (Request.sources). A problem of the
    request document the bundle makes (a birth date after the request date) names the field and the
    resource it came from."""
    if kb is None:  # read without the codes' meanings, a bundle would lose every coded fact, silently
        raise RequestError(source, "resourceType", "a FHIR input is read with a kb's code tables; read it "
                                                   "through lumakras_logic.core.api.Decider (or pass kb=)")
    return to_request(convert(doc, source, codebook(kb)), source, payers, today)


def to_request(converted: Converted, source: str, payers: tuple[str, ...], today: dt.date | None) -> Request:
    """The Request of a converted FHIR input, read by parse_request like any request document."""
    try:
        request = parse_request(converted.doc, source, payers, today)
    except RequestError as exc:
        raise _sourced(exc, converted.sources) from None
    sources = dict(converted.sources)
    if "member.birth_date" in sources and "member.age" not in sources:
        sources["member.age"] = sources["member.birth_date"]
    if "request_type" not in sources:
        sources["request_type"] = {"": "no resource says the request continues a therapy: initial by default"}
    request.sources = sources
    request.ignored = converted.ignored
    return request


def _sourced(exc: RequestError, sources: Mapping[str, Mapping[str, str]]) -> RequestError:
    out = []
    for p in exc.problems:
        field_name = re.sub(r"\[\d+\]$", "", p.field)
        given = sources.get(field_name, {})
        where = "; ".join(dict.fromkeys(given.values()))
        message = p.message + (f" (from {where})" if where else "")
        if p.field == "id" and not given:
            message += " (a FHIR input gives it as Claim.identifier, Bundle.identifier or Bundle.id)"
        out.append(RequestError(p.source, p.field, message))
    out[0].problems = out
    return out[0]
