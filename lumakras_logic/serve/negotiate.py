"""The service's answers in the format the client asks for (the Accept header), and its problems.

The JSON is the text `lumakras decide --json` prints, byte for byte (one object for one answer, an array
for several), made by the same functions; HTML is `why --format html`'s page; text/plain is `decide`'s
summary (POST /decide) or `why`'s text (POST /why); application/fhir+json is `--format fhir`'s
ClaimResponse, or a Bundle of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from ..core.escape import one_line
from ..core.html import document, tag
from ..core.render import summary, to_json, why
from ..core.stream import JsonArray, JsonObject, dumps

if TYPE_CHECKING:
    from ..core.answer import Answer
    from .runs import Run

MEDIA = {"json": "application/json", "html": "text/html; charset=utf-8", "text": "text/plain; charset=utf-8",
         "fhir": "application/fhir+json"}
_BY_TYPE = {"application/json": "json", "text/html": "html", "application/xhtml+xml": "html",
            "text/plain": "text", "application/fhir+json": "fhir"}
PROBLEM_HEADER = "Lumakras-Problem"


class Problem(Exception):
    """A request the service refuses: an HTTP status and the CLI's one-line message (every line of a file
    with several problems in `problems`)."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, one_line(message)
        self.problems = [one_line(p) for p in problems] if problems else [self.message]


def best_format(accept: str, default: str) -> str:
    """The format of the first media range of the highest quality the service writes; `default` for */*,
    no Accept, or nothing it writes."""
    ranges = []
    for i, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        ranges.append((-q, i, media.lower()))
    for neg_q, _i, media in sorted(ranges):
        if neg_q == 0:
            break
        if media in _BY_TYPE:
            return _BY_TYPE[media]
        if media in ("*/*", "application/*") or (media == "text/*" and default in ("html", "text")):
            return default
    return default


def answers_json(answers: list[Answer], single: bool) -> str:
    """`decide --json`'s text: one answer alone, else an array written as the CLI streams it."""
    if single:
        return to_json(answers, single=True) + "\n"
    out: list[str] = []
    array = JsonArray(out.append)
    for a in answers:
        array.add(a.to_json())
    array.close(empty="[]")
    return "".join(out)


def answers_fhir(answers: list[Answer], single: bool) -> str:
    """`--format fhir`'s text: one ClaimResponse alone, else a Bundle (type collection) of them."""
    from ..core.fhir.claimresponse import bundle_head, claim_response

    if single:
        return dumps(claim_response(answers[0])) + "\n"
    out: list[str] = []
    bundle = JsonObject(out.append)
    for key, value in bundle_head():
        bundle.field(key, value)
    if answers:
        entries = bundle.array("entry")
        for a in answers:
            entries.add({"resource": claim_response(a)})
        entries.close()
    bundle.close()
    return "".join(out)


def answered(run: Run, fmt: str, is_why: bool, options: dict[str, Any], every_payer: bool) -> Response:
    """The answers as asked for; the problems too when nothing was answered (422), else in a header. One
    answer is one object, as the CLI prints it, except under payer=all (`every_payer`): an array."""
    if not run.answers and run.error is not None:
        return problem_response(Problem(run.status, run.problems[0], run.problems), fmt)
    single = len(run.answers) == 1 and not every_payer
    if fmt == "html":
        from ..core.html import why_page

        body = why_page(run.answers, **options)
    elif fmt == "text":
        body = ("\n\n".join(why(a, **options) for a in run.answers) if is_why
                else "\n".join(summary(a) for a in run.answers)) + "\n"
    elif fmt == "fhir":
        body = answers_fhir(run.answers, single)
    else:
        body = answers_json(run.answers, single)
    headers = {PROBLEM_HEADER: _header(run.problems[0])} if run.problems else None
    return Response(body, media_type=MEDIA[fmt], headers=headers)


def problem_response(p: Problem, fmt: str) -> Response:
    """A refused request: its status and one-line message, in the format asked for (JSON by default)."""
    if fmt == "html":
        body = document(f"lumakras: {p.message}",
                        tag("main", tag("h1", "The request cannot be decided" if p.status < 500 else
                                        "The service could not answer"),
                            tag("ul", *(tag("li", m) for m in p.problems), class_="error")))
        return Response(body, status_code=p.status, media_type=MEDIA["html"])
    if fmt == "text":
        return Response("".join(f"lumakras: {m}\n" for m in p.problems), status_code=p.status,
                        media_type=MEDIA["text"])
    return Response(dumps({"error": p.message, "problems": p.problems, "status": p.status}) + "\n",
                    status_code=p.status, media_type=MEDIA["json"])


def _header(text: str) -> str:
    """A header value: latin-1 only, so anything else is escaped as \\uXXXX."""
    return "".join(ch if 32 <= ord(ch) < 127 else f"\\u{ord(ch):04x}" for ch in one_line(text))[:1000]

