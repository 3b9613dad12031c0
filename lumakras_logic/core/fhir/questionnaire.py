"""A payer's policy as a FHIR R4 Questionnaire, made from the kb (docs/fhir.md, "Questionnaire").

Why from the kb: the questions a prescriber's office must answer are exactly the request fields the
payer's criteria read, so they are derived, never listed here: the subject of every leaf test, the param
of a test whose signature says it names a field (at_most_field), the fields the kb's `sends` facts name
for a kind (the histology an organ-level diagnosis needs), and line_of_business, request_type and
requested_months where the payer's durations, referrals and pathways depend on them. When a field matters
only after another's answer is kb data too: `asked_when` facts, each with its citation
(kb/payers/centene/questionnaire.dl), which become enableWhen.

The contract with the QuestionnaireResponse reader: a leaf item's linkId is exactly the request field's
path (docs/requests.md), so an answer maps back to a field with no table in between. Groups carry the
section's name (member, diagnosis, ...); help items carry `<field>-help`, which is no field path.

Absent is not false: the description says to leave a question unanswered when the record does not say,
so that the request reads it as not documented.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from ..answer import Answer
from ..kb import KnowledgeBase, natural_key
from ..request import FIELDS

Json = dict[str, Any]

ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
VALUE_SYSTEM = "urn:lumakras-logic:request:"  # + the field's path: the system of a choice field's codes
QUESTIONNAIRE_URL = "urn:lumakras-logic:questionnaire:"  # + the payer

# FieldSpec.kind -> (Questionnaire item type, repeats)
ITEM_TYPES: dict[str, tuple[str, bool]] = {
    "bool": ("boolean", False), "whole": ("integer", False), "number": ("decimal", False),
    "date": ("date", False), "text": ("string", False), "choice": ("choice", False),
    "choice_list": ("choice", True), "names": ("string", True),
}
# enableWhen's answer[x] for the source item's type ('exists' always takes answerBoolean)
ANSWER_KEYS = {"boolean": "answerBoolean", "integer": "answerInteger", "decimal": "answerDecimal",
               "date": "answerDate", "string": "answerString", "choice": "answerCoding"}
OPERATOR_WORDS = {"exists": "is given", "=": "is", "!=": "is not", ">": "is more than", "<": "is less than",
                  ">=": "is at least", "<=": "is at most"}

DESCRIPTION = ("The questions {policy} asks of a prior-authorization request for sotorasib (Lumakras), made "
               "from the lumakras-logic knowledge base: one item per request field the policy's criteria "
               "read, its linkId the field's path (docs/requests.md). Leave a question unanswered when the "
               "record does not say: an unanswered question is not documented, never a no.")

PEND_DESCRIPTION = ("What {policy} needs to decide a pended prior-authorization request for sotorasib (Lumakras): "
                    "one item per request field the answer's to_document names, its linkId the field's path "
                    "(docs/requests.md), with the criteria it serves as help. Leave a question unanswered when "
                    "the record does not say: an unanswered question is not documented, never a no.")


def read_fields(kb: KnowledgeBase, payer: str) -> dict[str, list[str]]:
    """Every request field the payer's policy reads, in FIELDS order, each with the help lines that say
    why: the policy's words and citation of each criterion that reads it, and the durations, referrals
    and pathways that depend on it."""
    signatures = {k: (s, p) for k, s, p in kb.ask("test_signature", "?K", "?S", "?P")}
    by_text: dict[str, dict[str, list[str]]] = defaultdict(dict)  # field -> {criterion text: [cites]}
    nodes = sorted((n for (p, _i), n in kb.nodes.items() if p == payer and n.test), key=lambda n: natural_key(n.id))
    for node in nodes:
        kind, subject, param = node.test  # type: ignore[misc]
        subject_is, param_is = signatures.get(kind, ("field", ""))
        fields = [subject] if subject_is == "field" else []
        fields += [param] if param_is == "field" else []
        fields += [param if f == "{param}" else f for (k, _note), f in kb.sends.items() if k == kind]
        for f in fields:
            if f in FIELDS:
                by_text[f].setdefault(node.text, [])
                if node.cite not in by_text[f][node.text]:
                    by_text[f][node.text].append(node.cite)
    lines: dict[str, list[str]] = {f: [f"{text} [{'; '.join(cites)}]" for text, cites in texts.items()]
                                   for f, texts in by_text.items()}
    for f, extra in _policy_lines(kb, payer).items():
        lines.setdefault(f, []).extend(extra)
    return {f: lines[f] for f in FIELDS if f in lines}


def _policy_lines(kb: KnowledgeBase, payer: str) -> dict[str, list[str]]:
    """Help lines for the fields the payer's pathways, durations and referrals read (not its tests)."""
    out: dict[str, list[str]] = defaultdict(list)
    policy = kb.policies[payer]
    pathways = kb.pathways.get(payer, [])
    typed = [w for w in pathways if w.request_type != "any"]
    if typed:
        for w in typed:
            node = kb.node(payer, w.id)
            out["request_type"].append(f"Pathway {w.id} reviews {w.request_type} requests only: {node.text} "
                                       f"[{node.cite}]")
    durations: dict[str, list[str]] = defaultdict(list)
    for w, lob, months in kb.ask("duration", payer, "?W", "?L", "?M"):
        if lob != "any":
            durations[w].append(f"{lob} {months}")
    capped = defaultdict(list)
    for w, lob in kb.ask("duration_capped_by_request", payer, "?W", "?L"):
        capped[w].append(lob)
    for w in sorted(durations, key=natural_key):
        node = kb.node(payer, w)
        out["line_of_business"].append(f"The approval duration of pathway {w} depends on it (months: "
                                       f"{', '.join(sorted(durations[w]))}) [{node.cite}]")
    for w in sorted(capped, key=natural_key):
        node = kb.node(payer, w)
        out["requested_months"].append(f"Pathway {w} approves no more than the months asked for on "
                                       f"{', '.join(sorted(capped[w]))} plans [{node.cite}]")
    targets = defaultdict(list)
    for w, _c, lob, target in kb.ask("refer_target", payer, "?W", "?C", "?L", "?T"):
        if lob != "any" and f"{lob}: {target}" not in targets[w]:
            targets[w].append(f"{lob}: {target}")
    for w in sorted(targets, key=natural_key):
        node = kb.node(payer, w)
        out["line_of_business"].append(f"Where pathway {w} refers the request depends on it "
                                       f"({'; '.join(sorted(targets[w]))}) [{node.cite}]")
    if "line_of_business" in policy.requires and not out["line_of_business"]:
        out["line_of_business"].append(f"{policy.id} requires it")
    return {f: lines for f, lines in out.items() if lines}


def conditions(kb: KnowledgeBase, payer: str) -> dict[str, list[tuple[str, str, Any, str]]]:
    """field -> (source field, operator, value, citation) of each asked_when fact of the payer."""
    out: dict[str, list[tuple[str, str, Any, str]]] = defaultdict(list)
    for f, source, op, value, cite in kb.ask("asked_when", payer, "?F", "?S", "?O", "?V", "?C"):
        out[f].append((source, op, value, cite))
    return {f: sorted(c, key=str) for f, c in out.items()}


def questionnaire(kb: KnowledgeBase, payer: str, today: dt.date) -> Json:
    """The payer's whole Questionnaire: every field its policy reads."""
    fields = read_fields(kb, payer)
    return _questionnaire(kb, payer, today, fields, url=QUESTIONNAIRE_URL + payer, title_suffix="",
                          description=DESCRIPTION, derived=False)


def pend_questionnaire(kb: KnowledgeBase, answer: Answer, today: dt.date) -> Json:
    """On a pend, the questions that would settle it: the fields of `to_document`, each with the policy's
    words and citation of the criteria it serves and the question the answer asks. An enableWhen whose
    source the request already answered is left out (this request already meets it: that is why the field
    is asked); one between two fields both asked is kept."""
    asks: dict[str, dict[tuple[str, str, str], list[str]]] = defaultdict(dict)  # field -> {(ask, why, node): pathways}
    for t in answer.to_document:
        node = kb.nodes.get((answer.payer, t.node))
        cite = f" [{node.cite}]" if node and node.cite else ""
        key = (t.question or "", f"{t.text}{cite}; now: {t.because}", t.node)
        pathways = asks[t.field].setdefault(key, [])
        if t.pathway not in pathways:
            pathways.append(t.pathway)
    help_lines = {f: [f"{ask + ' ' if ask else ''}For {node} (pathway{'s' if len(ws) > 1 else ''} {', '.join(ws)}): "
                      f"{why}" for (ask, why, node), ws in keys.items()] for f, keys in asks.items()}
    fields = {f: help_lines[f] for f in FIELDS if f in help_lines}
    url = f"{QUESTIONNAIRE_URL}{answer.payer}:to-document:{quote(answer.request, safe='')}"
    return _questionnaire(kb, answer.payer, today, fields, url=url,
                          title_suffix=f": what to send for request {answer.request}",
                          description=PEND_DESCRIPTION, derived=True)


def _questionnaire(kb: KnowledgeBase, payer: str, today: dt.date, fields: dict[str, list[str]], url: str,
                   title_suffix: str, description: str, derived: bool) -> Json:
    policy = kb.policies[payer]
    version = f"{policy.revision}+kb.{kb.payer_digest(payer)}"
    asked = {f: [c for c in conds if c[0] in fields] for f, conds in conditions(kb, payer).items() if f in fields}
    items: dict[str, Json] = {}  # root linkId -> item (a section's group, or a top-level field)
    depends: dict[str, list[str]] = defaultdict(list)  # root linkId -> the roots its enableWhen read
    for f, lines in fields.items():
        for source, op, value, cite in asked.get(f, []):
            lines = [*lines, f"Asked when the {_label(kb, source)} ({source}) {OPERATOR_WORDS.get(op, op)}"
                             f"{'' if op == 'exists' else ' ' + _shown(kb, value)} [{cite}]"]
        item = _item(kb, f, lines, asked.get(f, []))
        root = f.split(".", 1)[0] if "." in f else f
        if "." in f:
            group = items.setdefault(root, {"linkId": root, "text": _upper(_label(kb, root)), "type": "group",
                                            "item": []})
            group["item"].append(item)
        else:
            items[root] = item
        depends[root] += [s.split(".", 1)[0] for s, *_ in asked.get(f, []) if s.split(".", 1)[0] != root]
    out: Json = {
        "resourceType": "Questionnaire",
        "url": url,
        "version": version,
        "name": "Lumakras" + "".join(w.capitalize() for w in payer.split("_")) + ("ToDocument" if derived else ""),
        "title": f"{policy.title} ({policy.id}){title_suffix}",
        "status": "active",
        "subjectType": ["Patient"],
        "date": today.isoformat(),
        "description": description.format(policy=f"{policy.id} ({policy.title}, revision {policy.revision})"),
        "item": [items[r] for r in _ordered(list(items), depends)],
    }
    if derived:
        out["derivedFrom"] = [f"{QUESTIONNAIRE_URL}{payer}|{version}"]
    return out


def _ordered(roots: list[str], depends: dict[str, list[str]]) -> list[str]:
    """The root items in FIELDS order, but an item another's enableWhen reads before it (a form asks the
    request type before the continuation questions it enables)."""
    out: list[str] = []

    def visit(root: str, path: tuple[str, ...]) -> None:
        if root in out or root in path or root not in roots:
            return
        for dep in depends.get(root, []):
            visit(dep, (*path, root))
        out.append(root)

    for root in roots:
        visit(root, ())
    return out


def _item(kb: KnowledgeBase, path: str, lines: list[str], asked: list[tuple[str, str, Any, str]]) -> Json:
    spec = FIELDS[path]
    kind, repeats = ITEM_TYPES[spec.kind]
    item: Json = {"linkId": path, "text": _upper(_label(kb, path)), "type": kind}
    if repeats:
        item["repeats"] = True
    if asked:
        item["enableWhen"] = [_enable_when(kb, source, op, value) for source, op, value, _cite in asked]
        if len(asked) > 1:
            item["enableBehavior"] = "any"
    if spec.choices:
        item["answerOption"] = [{"valueCoding": _coding(kb, path, v)} for v in spec.choices]
    if spec.kind == "choice_list":  # documented as none of them, apart from no answer (not documented)
        item["answerOption"].append({"valueCoding": {"system": VALUE_SYSTEM + path, "code": "none",
                                                     "display": "none of these"}})
    if spec.kind == "names":  # the reader takes 'none' as the list documented empty (docs/fhir.md)
        lines = [*lines, "One answer per drug, regimen or class (brand or generic name); answer 'none' when there "
                         "is none (no answer: not documented)."]
    if lines:
        item["item"] = [{
            "linkId": f"{path}-help",
            "text": "\n".join(lines),
            "type": "display",
            "extension": [{"url": ITEM_CONTROL, "valueCodeableConcept": {
                "coding": [{"system": ITEM_CONTROL_SYSTEM, "code": "help", "display": "Help-Button"}],
                "text": "Help-Button"}}],
        }]
    return item


def _enable_when(kb: KnowledgeBase, source: str, op: str, value: Any) -> Json:
    """One enableWhen: its answer[x] as the source item's type needs it."""
    if op == "exists":
        return {"question": source, "operator": op, "answerBoolean": bool(value)}
    kind = ITEM_TYPES[FIELDS[source].kind][0]
    answer: Any = _coding(kb, source, value) if kind == "choice" else value
    if kind == "decimal":
        answer = float(value)
    return {"question": source, "operator": op, ANSWER_KEYS[kind]: answer}


def _coding(kb: KnowledgeBase, path: str, value: str) -> Json:
    return {"system": VALUE_SYSTEM + path, "code": value, "display": kb.label(value)}


def _label(kb: KnowledgeBase, path: str) -> str:
    return str(kb.field_labels.get(path) or path.rsplit(".", 1)[-1].replace("_", " "))


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _shown(kb: KnowledgeBase, value: Any) -> str:
    return kb.label(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def bundle(resources: Iterable[Json]) -> Json:
    """Several resources as one Bundle of type collection."""
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}
