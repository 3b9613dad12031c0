"""The service's page for people: paste, upload or pick a request, choose payers, read each decision with
its tree and what to send; or fill a payer's questionnaire as a form. Plain HTML forms: no script.

Every string from a request, an upload's name or a form goes through core/html.py's `tag`, which escapes
it; the page's Content-Security-Policy forbids scripts besides (limits.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.escape import one_line
from ..core.html import Html, answer_article, document, join, lines, tag, verbatim, void
from ..core.request import REQUEST_SUFFIXES
from .negotiate import Problem, answers_json

if TYPE_CHECKING:
    from starlette.datastructures import FormData

    from ..core.kb import KnowledgeBase
    from .runs import Run

PAGE_CSS = """
.ask fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 .8rem; padding: .5rem .9rem; }
.ask label { display: block; margin: .5rem 0 .2rem; font-weight: 600; }
.ask textarea { width: 100%; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem; }
.ask .payers label, .ask label.opt { display: inline-block; font-weight: 400; margin: .1rem 1.2rem .1rem 0; }
.ask button { font-size: 1rem; padding: .4rem 1.2rem; }
.qform .item { margin: .5rem 0 .8rem; } .qform .help { color: var(--muted); font-size: .85rem; margin: .1rem 0; }
.qform .when { color: var(--nd); font-size: .85rem; }
nav a { margin-right: 1rem; }
pre.json { overflow-x: auto; background: #f6f8fa; padding: .5rem; font-size: .8rem; }
"""


def examples_of(folder: str | None) -> dict[str, Path]:
    """The example requests the page offers, by the name the CLI would be given from the project's root
    (queries/both-deny-kras-negative.yaml): the request files under `folder`."""
    if not folder or not Path(folder).is_dir():
        return {}
    base = Path(folder)
    found = sorted(p for p in base.rglob("*") if p.is_file() and p.suffix.lower() in REQUEST_SUFFIXES)
    return {str(p): p for p in found}


@dataclass
class PageInput:
    """The request a person gave on the page: its bytes, the name it is decided under, and the payers."""

    data: bytes
    source: str
    is_json: bool | None
    payer: str | list[str] | None
    shown: str  # how the page names it

    @classmethod
    async def from_form(cls, form: FormData, kb: KnowledgeBase, examples: str | None) -> PageInput:
        """One request from the form: an upload, a pasted text, or an example; two of them is a problem."""
        upload = form.get("file")
        pasted = form.get("request")
        example = form.get("example")
        given = []
        if upload is not None and not isinstance(upload, str) and upload.filename:
            given.append("file")
        if isinstance(pasted, str) and pasted.strip():
            given.append("pasted")
        if isinstance(example, str) and example:
            given.append("example")
        if not given:
            raise Problem(400, "request: none given: paste one, upload a file or pick an example")
        if len(given) > 1:
            raise Problem(400, f"request: {' and '.join(given)} both given; give one (clear the other)")
        payer = _payers(form, kb)
        if given == ["file"]:
            assert upload is not None and not isinstance(upload, str)
            name = Path(upload.filename or "upload").name
            return cls(await upload.read(), name, None, payer, f"the uploaded file {name}")
        if given == ["example"]:
            path = examples_of(examples).get(str(example))
            if path is None:
                raise Problem(400, f"example: no example named {one_line(str(example))[:200]!r}")
            return cls(path.read_bytes(), str(path), None, payer, f"the example {path}")
        assert isinstance(pasted, str)
        pasted = pasted.replace("\r\n", "\n")  # a form sends a textarea's line breaks as CRLF (HTML's rule)
        return cls(pasted.encode("utf-8"), "pasted request", None, payer, "the pasted request")


def _payers(form: FormData, kb: KnowledgeBase) -> str | list[str] | None:
    """The payers ticked: every payer is `all` (the CLI's --payer all); none, the request's own."""
    ticked = [p for p in form.getlist("payer") if isinstance(p, str)]
    unknown = [p for p in ticked if p not in kb.payers()]
    if unknown:
        raise Problem(400, f"payer: unknown payer {one_line(unknown[0])[:100]!r}")
    chosen = [p for p in kb.payers() if p in ticked]
    if not chosen:
        return None
    if len(chosen) == len(kb.payers()):
        return "all"
    return chosen[0] if len(chosen) == 1 else chosen


def index_page(kb: KnowledgeBase, examples: str | None, problem: Problem | None = None,
               given: PageInput | None = None, results: Html | None = None, pasted: str = "") -> str:
    """The page: the form, then the problem or the answers."""
    names = examples_of(examples)
    policies = "; ".join(f"{kb.policies[p].title} ({kb.policies[p].id})" for p in kb.payers())
    chosen = given.payer if given else "all"
    boxes = [tag("label", void("input", type="checkbox", name="payer", value=p,
                               checked=chosen in ("all", p) or (isinstance(chosen, list) and p in chosen)),
                 f" {p} ({kb.policies[p].id})") for p in kb.payers()]
    options = [tag("option", "—", value="")] + [tag("option", name, value=name) for name in names]
    form = tag("form", tag("fieldset", tag("legend", "The request"),
                           tag("label", "Paste a request document (YAML or JSON), a FHIR R4 Bundle or a "
                                        "QuestionnaireResponse", for_="request"),
                           tag("textarea", verbatim(pasted), id="request", name="request", rows="12",
                               spellcheck="false"),
                           tag("label", "or upload a file (.yaml, .yml, .json)", for_="file"),
                           void("input", type="file", id="file", name="file", accept=".yaml,.yml,.json"),
                           *([tag("label", "or pick an example", for_="example"),
                              tag("select", *options, id="example", name="example")] if names else [])),
               tag("fieldset", tag("legend", "Payers (none ticked: the request's own)"), *boxes, class_="payers"),
               tag("button", "Decide and explain", type="submit", id="decide"),
               method="post", action="/", enctype="multipart/form-data", class_="ask")
    forms = [tag("a", f"{kb.policies[p].id} ({p})", href=f"/form/{p}") for p in kb.payers()]
    body = [tag("header", tag("h1", "lumakras-logic: prior authorization of sotorasib (Lumakras)"),
                tag("p", f"Decides a request under {policies}, and says why: the pathway that succeeded, or for "
                         "each pathway that came near, which criterion failed, which was not documented, and "
                         "what to send.")),
            form, tag("nav", "Or answer a payer's questionnaire: ", *forms, class_="noprint")]
    if problem is not None:
        body.append(tag("section", tag("h2", "The request cannot be decided"),
                        tag("ul", *(tag("li", f"lumakras: {m}") for m in problem.problems), class_="error"),
                        id="results", class_="problem"))
    if results is not None:
        body.append(results)
    return document("lumakras-logic", join(body), extra_head=f"<style>{PAGE_CSS}</style>\n")


def result_page(kb: KnowledgeBase, examples: str | None, given: PageInput, run: Run) -> str:
    """The page with the answers to what was given: each payer's article, then the JSON (as decide --json)."""
    parts: list[str] = [tag("h2", f"Answers to {given.shown}")]
    if run.problems:
        parts.append(tag("ul", *(tag("li", f"lumakras: {m}") for m in run.problems), class_="error"))
    parts += [answer_article(a, level="h3") for a in run.answers]
    if run.answers:
        single = given.payer != "all" and len(run.answers) == 1
        parts.append(tag("details", tag("summary", "The answer as JSON (lumakras decide --json)"),
                         tag("pre", lines(answers_json(run.answers, single)), class_="json", id="answer-json"),
                         class_="json noprint"))
    pasted = given.data.decode("utf-8", "replace") if given.source == "pasted request" else ""
    return index_page(kb, examples, given=given, results=tag("section", join(parts), id="results"), pasted=pasted)


# --------------------------------------------------------------------------------------------------------
# A payer's questionnaire as a form
# --------------------------------------------------------------------------------------------------------


def form_page(kb: KnowledgeBase, payer: str, q: dict[str, Any], problem: Problem | None = None,
              filled: FormData | None = None) -> str:
    """The payer's Questionnaire (`lumakras questionnaire`) as an HTML form: a question per field, the
    policy's words under it; a question left blank is not documented, never a no."""
    fields = [_item(item, filled) for item in q.get("item") or []]
    body = [tag("h1", q.get("title") or f"{payer} questionnaire"),
            tag("p", "Answer what the record documents and leave the rest blank: a blank answer is not "
                     "documented, never a no. The policy's words and citation are under each question."),
            tag("nav", tag("a", "Back to the request page", href="/"), class_="noprint")]
    if problem is not None:
        body.append(tag("ul", *(tag("li", f"lumakras: {m}") for m in problem.problems), class_="error",
                        id="results"))
    body.append(tag("form", *fields, tag("button", "Decide and explain", type="submit", id="decide"),
                    method="post", action=f"/form/{payer}", class_="ask qform"))
    return document(f"lumakras-logic: {q.get('title') or payer}", join(body), extra_head=f"<style>{PAGE_CSS}</style>\n")


def _item(item: dict[str, Any], filled: FormData | None) -> Html:
    kind, link = item.get("type"), str(item.get("linkId"))
    helps = [tag("p", line, class_="help") for i in item.get("item") or [] if i.get("type") == "display"
             for line in str(i.get("text", "")).splitlines()]
    if kind == "group":
        return tag("fieldset", tag("legend", item.get("text") or link),
                   *(_item(i, filled) for i in item.get("item") or [] if i.get("type") != "display"))
    if kind == "display":
        return tag("p", item.get("text", ""), class_="help")
    before = filled.getlist(link) if filled is not None else []
    label = tag("label", item.get("text") or link, tag("code", f" {link}"), for_=link)
    control = _control(item, link, [v for v in before if isinstance(v, str)])
    when = _when(item)
    return tag("div", label, control, *helps, when, class_="item")


def _control(item: dict[str, Any], link: str, before: list[str]) -> Html:
    kind, repeats = item.get("type"), bool(item.get("repeats"))
    if kind == "boolean":
        value = before[0] if before else ""
        return join(tag("label", void("input", type="radio", name=link, value=v, checked=value == v), f" {words}",
                        class_="opt") for v, words in (("true", "yes"), ("false", "no"), ("", "not documented")))
    if kind in ("choice", "open-choice"):
        codes = [o["valueCoding"] for o in item.get("answerOption") or [] if "valueCoding" in o]
        if repeats:
            return join(tag("label", void("input", type="checkbox", name=link, value=c["code"],
                                          checked=c["code"] in before), f" {c.get('display') or c['code']}",
                            class_="opt") for c in codes)
        return tag("select", tag("option", "not documented", value=""),
                   *(tag("option", c.get("display") or c["code"], value=c["code"],
                         selected=bool(before) and before[0] == c["code"]) for c in codes), id=link, name=link)
    if repeats:
        return tag("textarea", verbatim("\n".join(before)), id=link, name=link, rows="3",
                   placeholder="one per line; none, if the record documents none")
    input_type = {"integer": "number", "decimal": "number", "date": "date"}.get(str(kind), "text")
    step = {"integer": "1", "decimal": "any"}.get(str(kind))
    return void("input", type=input_type, id=link, name=link, step=step, value=before[0] if before else "")


def _when(item: dict[str, Any]) -> Html | None:
    """enableWhen, said in words (the form shows every question: no script hides one)."""
    conditions = []
    for w in item.get("enableWhen") or []:
        value = next((v for k, v in w.items() if k.startswith("answer")), None)
        if isinstance(value, dict):
            value = value.get("code", value)
        conditions.append(f"{w.get('question')} {w.get('operator')} {value}")
    if not conditions:
        return None
    joined = f" {str(item.get('enableBehavior', 'any')).lower()} of: " if len(conditions) > 1 else ": "
    return tag("p", f"Asked only when{joined}{'; '.join(conditions)}", class_="when")


def questionnaire_response(q: dict[str, Any], form: FormData, payer: str, day: dt.date) -> dict[str, Any]:
    """The form's answers as a FHIR QuestionnaireResponse of the payer's Questionnaire (what a DTR client
    would send): a blank answer is left out, so its field is not documented."""
    source = f"questionnaire form ({payer})"
    items: list[dict[str, Any]] = []
    for item in _questions(q.get("item") or []):
        link = str(item["linkId"])
        values = [v.strip() for v in form.getlist(link) if isinstance(v, str) and v.strip()]
        if item.get("repeats") and item.get("type") not in ("choice", "open-choice"):
            values = [line.strip() for v in values for line in v.splitlines() if line.strip()]
        answers = [_answer(item, v, source) for v in values]
        if answers:
            items.append({"linkId": link, "answer": answers})
    return {"resourceType": "QuestionnaireResponse", "id": f"form-{payer}", "questionnaire": q.get("url"),
            "status": "completed", "authored": day.isoformat(), "item": items}


def _questions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        if item.get("type") == "group":
            out += _questions(item.get("item") or [])
        elif item.get("type") != "display":
            out.append(item)
            out += _questions([i for i in item.get("item") or [] if i.get("type") != "display"])
    return out


def _answer(item: dict[str, Any], value: str, source: str) -> dict[str, Any]:
    kind, link = item.get("type"), item["linkId"]
    if kind == "boolean":
        if value not in ("true", "false"):
            raise Problem(422, f"{source}: {link}: {one_line(value)[:40]!r} is neither yes nor no")
        return {"valueBoolean": value == "true"}
    if kind in ("integer", "decimal"):
        try:
            number = float(value)
        except ValueError:
            raise Problem(422, f"{source}: {link}: {one_line(value)[:40]!r} is not a number") from None
        if kind == "integer":
            if not number.is_integer():
                raise Problem(422, f"{source}: {link}: {one_line(value)[:40]!r} is not a whole number")
            return {"valueInteger": int(number)}
        return {"valueDecimal": int(number) if number.is_integer() else number}
    if kind == "date":
        return {"valueDate": value}
    if kind in ("choice", "open-choice"):
        for option in item.get("answerOption") or []:
            coding = option.get("valueCoding") or {}
            if coding.get("code") == value:
                return {"valueCoding": coding}
        raise Problem(422, f"{source}: {link}: {one_line(value)[:40]!r} is none of the choices")
    return {"valueString": value}
