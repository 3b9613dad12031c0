"""Answers as HTML for people: one self-contained, printable page (`why --format html`), and the fragments
the local service's page and `compare --format html` are built of.

Self-contained: the CSS is inline, nothing is fetched, and no script is needed or allowed: the page's own
Content-Security-Policy forbids every script, so a string that slipped through would still not run. And
none slips through: every text from a request or the kb goes through `esc`, which escapes HTML's five
special characters and, like the text output, every control character and bidi override (core/escape.py),
which would reorder what a reviewer reads. Markup is built only by `tag`, whose text children are escaped
and whose `Html` children are markup built here.

The derivation is a tree of `<details>`: open along the path that decided the answer (the criteria met on
approve or refer; not met on deny; not documented on pend) and folded elsewhere, so the page opens on the
reason and a print shows it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from .answer import Answer, Closest, Criterion, ToDocument
from .escape import one_line
from .render import DECISION_WORDS, MARK, headline, reason


class Html(str):
    """Markup built here: `tag` puts it in as it is; any other str is text and is escaped."""


def esc(text: object) -> Html:
    """Text as HTML: one line (control characters and bidi overrides escaped) with & < > " ' escaped."""
    return Html(html.escape(one_line(str(text)), quote=True))


def lines(text: str) -> Html:
    """A text of several lines (a <pre>, a <textarea>): each line as `esc` makes it, the line breaks kept."""
    return Html("\n".join(esc(line) for line in text.split("\n")))


def verbatim(text: str) -> Html:
    """Text exactly as given, escaped for HTML and nothing else: the content of a form control (a
    <textarea>), which the browser sends back as it shows it, so a tab or any other character is kept."""
    return Html(html.escape(text, quote=True))


def tag(name: str, /, *children: str | None, **attrs: str | bool | None) -> Html:
    """<name attrs>children</name>; a str child is escaped, an Html child kept; an attribute True is
    written bare, None or False left out (class_ is class, data_x is data-x)."""
    inner = "".join(c if isinstance(c, Html) else esc(c) for c in children if c is not None)
    return Html(f"{void(name, **attrs)}{inner}</{name}>")


def void(name: str, /, **attrs: str | bool | None) -> Html:
    """An element with no content (<input ...>), its attributes as `tag` writes them."""
    parts = [name]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        parts.append(key if value is True else f'{key}="{esc(value)}"')
    return Html(f"<{' '.join(parts)}>")


def join(items: Iterable[str]) -> Html:
    return Html("".join(i if isinstance(i, Html) else esc(i) for i in items))


# No script, no fetch: the page stands alone in a file, a mail or a case's attachments.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'"

CSS = """
:root { --ok: #1b6e20; --no: #a31515; --nd: #8a5a00; --ref: #1f4e99; --line: #d0d4da; --muted: #555; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a;
       margin: 0 auto; padding: 1.2rem; max-width: 78rem; }
h1 { font-size: 1.35rem; margin: .2rem 0 .8rem; }
h2 { font-size: 1.15rem; margin: 0 0 .4rem; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .88em; }
cite { font-style: normal; color: var(--muted); }
article.answer { border: 1px solid var(--line); border-left: 6px solid var(--muted); border-radius: 6px;
                 padding: .8rem 1rem; margin: 0 0 1.2rem; break-inside: avoid-page; }
article.approve { border-left-color: var(--ok); } article.deny { border-left-color: var(--no); }
article.pend { border-left-color: var(--nd); } article.refer { border-left-color: var(--ref); }
.decision { display: inline-block; font-weight: 700; letter-spacing: .04em; padding: .05rem .5rem;
            border-radius: 4px; color: #fff; background: var(--muted); }
.decision.approve { background: var(--ok); } .decision.deny { background: var(--no); }
.decision.pend { background: var(--nd); } .decision.refer { background: var(--ref); }
.reason { font-size: 1.05rem; margin: .5rem 0; }
.recommendation { border: 1px solid var(--no); background: #fff4f4; padding: .5rem .7rem; border-radius: 4px;
                  margin: .5rem 0; }
.meta { color: var(--muted); font-size: .85rem; margin: .3rem 0 .6rem; }
.meta dt { float: left; clear: left; width: 9rem; } .meta dd { margin: 0 0 0 9.5rem; overflow-wrap: anywhere; }
details { margin: .15rem 0 .15rem .2rem; }
details > summary { cursor: pointer; padding: .1rem 0; }
details details { margin-left: 1.3rem; }
.crit > .body { margin: .1rem 0 .4rem 1.6rem; }
.status { display: inline-block; min-width: 8.5rem; font-weight: 600; }
table.compare .status { min-width: 0; margin-right: .4rem; }
.status.met { color: var(--ok); } .status.not_met { color: var(--no); } .status.not_documented { color: var(--nd); }
ul.facts { margin: .1rem 0; padding-left: 1.1rem; }
ul.facts li.source { color: var(--muted); }
.rules { color: var(--muted); font-size: .85rem; }
.send { border: 1px solid var(--nd); background: #fffaf0; border-radius: 4px; padding: .4rem .8rem; }
.send li { margin: .3rem 0; }
.pathway-head { font-weight: 600; }
.count { color: var(--muted); font-weight: 400; }
.unclassified { color: var(--nd); }
table.compare { border-collapse: collapse; width: 100%; font-size: .92rem; }
table.compare th, table.compare td { border: 1px solid var(--line); padding: .35rem .5rem; vertical-align: top;
                                     text-align: left; }
table.compare tr.differs > th { background: #fff1f1; }
table.compare td.mark { width: 1.6rem; text-align: center; font-weight: 700; }
table.compare tr.group > th { background: #f4f5f7; }
table.compare tr.why > td { border-top: 0; background: #fff8f8; font-size: .88rem; }
table.compare details { margin: 0 0 .2rem; } table.compare tr { break-inside: avoid; }
section.comparison { margin: 1.5rem 0 0; }
.error { color: var(--no); font-weight: 600; }
footer { color: var(--muted); font-size: .8rem; margin-top: 1.5rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  article.answer { border-width: 1px 1px 1px 4px; }
  details > summary { list-style: none; }
  .noprint { display: none; }
}
"""


def document(title: str, body: str, *, extra_head: str = "") -> str:
    """A whole page: the inline CSS, the no-script policy, the body (markup built here)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<meta name=\"generator\" content=\"lumakras-logic\">\n{extra_head}"
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def why_page(answers: list[Answer], nearest: int = 3, show_rules: bool = True, show_all: bool = False) -> str:
    """`why --format html`: one page with each answer (one per payer) as an article."""
    if not answers:
        return document("lumakras: no answer", tag("p", "No answer."))
    first = answers[0]
    words = ", ".join(f"{a.payer} {DECISION_WORDS.get(a.decision, a.decision)}" for a in answers)
    title = f"{first.request}: {words}"
    body = join([tag("h1", f"Prior authorization of sotorasib (Lumakras): {first.request}"),
                 *(answer_article(a, nearest=nearest, show_rules=show_rules, show_all=show_all) for a in answers),
                 tag("footer", f"Made by lumakras-logic from {_named(answers)} and the request named above; each "
                               "criterion cites the policy's section it encodes"
                               + (" and the kb rules it rests on." if show_rules else "."))])
    return document(title, body)


def _named(answers: list[Answer]) -> str:
    policies = dict.fromkeys(f"{a.payer} {a.policy} (revision {a.provenance.revision})" for a in answers)
    return ("the written polic" + ("ies " if len(policies) > 1 else "y ") + ", ".join(policies))


DECIDING = {"approve": "met", "refer": "met", "deny": "not_met", "pend": "not_documented"}


def answer_article(a: Answer, nearest: int = 3, show_rules: bool = True, show_all: bool = False,
                   level: str = "h2") -> Html:
    """One answer: the decision and its reason first, then where it came from, then the derivation."""
    prov = a.provenance
    head = tag(level, tag("span", DECISION_WORDS.get(a.decision, a.decision.upper()),
                          class_=f"decision {a.decision}"), " ", headline(a))
    parts: list[str] = [head]
    if a.decision == "deny":
        parts.append(tag("div", tag("strong", "A recommendation to deny, for a clinical reviewer: "),
                         "this tool does not deny a request; a clinical reviewer decides. ",
                         tag("span", reason(a), class_="reason-text"), class_="recommendation reason"))
    else:
        parts.append(tag("p", reason(a), class_="reason"))
    parts.append(tag("dl", tag("dt", "policy"), tag("dd", f"{prov.title} ({a.policy}, revision {prov.revision})"),
                     tag("dt", "request"), tag("dd", f"{prov.request_source}, of {prov.request_date.isoformat()}"),
                     tag("dt", "kb digest"), tag("dd", tag("code", prov.kb_digest),
                                                   f" ({len(prov.kb_files)} files)"),
                     tag("dt", "engine"), tag("dd", prov.engine), class_="meta"))
    if a.unclassified:
        parts.append(tag("ul", *(tag("li", tag("code", u.field), ": ", u.because) for u in a.unclassified),
                         class_="unclassified"))
    opens = DECIDING.get(a.decision, "")
    if a.decision in ("approve", "refer"):
        verb = "approved" if a.decision == "approve" else "referred"
        parts.append(tag("h3", f"Why {verb}: pathway {a.pathway} is derived; its criteria"))
        parts += [criterion(c, opens, show_rules) for c in a.criteria]
        if a.decision == "refer":
            parts.append(tag("p", f"Referred to {a.refer_to} by {a.refer_by}, for the line of business of "
                                  "the request."))
    else:
        parts.append(_nearest(a, opens, nearest, show_rules, show_all))
    if a.decision == "pend" and a.to_document:
        parts.append(to_send(a.to_document))
    return tag("article", join(parts), class_=f"answer {a.decision}", data_payer=a.payer)


def _nearest(a: Answer, opens: str, nearest: int, show_rules: bool, show_all: bool) -> Html:
    """On deny or pend: the nearest pathway open, the others folded; those for another diagnosis and
    those past `nearest` folded under their own heading (nothing is left out of the page)."""
    own = [p for p in a.closest if not p.other_diagnosis]
    other = [p for p in a.closest if p.other_diagnosis]
    if show_all:
        own, other = list(a.closest), []
    shown = own[:nearest] if nearest else own
    rest = own[len(shown):]
    verb = "denied" if a.decision == "deny" else "pended"
    parts: list[str] = [tag("h3", f"Why {verb}: no pathway is derived. The nearest pathways, nearest first")]
    if not a.closest:
        parts.append(tag("p", "No pathway reviews this request."))
    parts += [pathway(p, opens, show_rules, is_open=i == 0) for i, p in enumerate(shown)]
    if rest:
        parts.append(tag("details", tag("summary", f"{len(rest)} more pathway{'s' if len(rest) != 1 else ''}"),
                         *(pathway(p, opens, show_rules) for p in rest), class_="more"))
    if other:
        parts.append(tag("details", tag("summary", f"{len(other)} pathway{'s' if len(other) != 1 else ''} "
                                                   "for another diagnosis"),
                         *(pathway(p, opens, show_rules) for p in other), class_="other-diagnosis"))
    for o in a.otherwise or ():
        parts.append(tag("p", tag("strong", "Otherwise: "), o.text, " ", tag("cite", f"[{o.cite}]"),
                         tag("ul", *(tag("li", b) for b in o.because), class_="facts") if o.because else None,
                         class_="otherwise"))
    return tag("section", join(parts), class_="nearest")


def pathway(p: Closest, opens: str, show_rules: bool, is_open: bool = False) -> Html:
    """A pathway that came near: its words, counts, and criteria (open where they decided)."""
    summary = tag("summary", tag("span", f"Pathway {p.pathway}: ", class_="pathway-head"), p.text, " ",
                  tag("cite", f"[{p.cite}]"),
                  tag("span", f" — {p.not_met} not met, {p.not_documented} not documented", class_="count"))
    return tag("details", summary, *(criterion(c, opens, show_rules) for c in p.criteria),
               class_="pathway", data_pathway=p.pathway, open=is_open)


def criterion(c: Criterion, opens: str, show_rules: bool) -> Html:
    """A criterion as a node of the tree: its status, id, the policy's words and citation; inside, its parts,
    or (a leaf) the facts it read, where they came from and the kb rules it rests on."""
    summary = tag("summary", tag("span", MARK.get(c.status, c.status), class_=f"status {c.status}"), " ",
                  tag("code", c.id), " ", c.text, " ", tag("cite", f"[{c.cite}]"))
    inner: list[str] = []
    if c.parts:
        if c.combines:
            inner.append(tag("div", f"{_COMBINES.get(c.combines, c.combines)}:", class_="combines"))
        inner += [criterion(part, opens, show_rules) for part in c.parts]
    else:
        facts = [tag("li", b) for b in c.because] + [tag("li", f"from {s}", class_="source") for s in c.sources]
        if facts:
            inner.append(tag("ul", *facts, class_="facts"))
        if show_rules and c.rules:
            inner.append(tag("div", "rests on ", join(_sep(tag("code", r) for r in c.rules)), class_="rules"))
    return tag("details", summary, tag("div", join(inner), class_="body"), class_=f"crit {c.status}",
               data_criterion=c.id, open=c.status == opens)


_COMBINES = {"all": "all of", "any": "any one of", "not": "the opposite of"}


def _sep(items: Iterable[Html], sep: str = ", ") -> list[str]:
    out: list[str] = []
    for i, item in enumerate(items):
        if i:
            out.append(sep)
        out.append(item)
    return out


def to_send(items: tuple[ToDocument, ...]) -> Html:
    """On pend: each fact to send, the criterion it serves, why, and the question that settles it."""
    rows = []
    for t in items:
        alt = f", any one of {t.any_of}" if t.any_of else ""
        notes = [t.because, *t.given, t.question or ""]
        rows.append(tag("li", tag("code", t.field), f" (for {t.node}, pathway {t.pathway}{alt}): ", t.text,
                        tag("ul", *(tag("li", n) for n in notes if n), class_="facts")))
    return tag("section", tag("h3", "To decide, send"), tag("ul", *rows), class_="send")
