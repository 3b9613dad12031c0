"""`lumakras serve`: the local HTTP service (Starlette on uvicorn) and its page.

Routes (docs/serve.md):
- POST /decide, POST /why: a request document (YAML or JSON), a FHIR R4 Bundle or a QuestionnaireResponse
  as the body; the answer as `decide --json` prints it, byte for byte, or, by the Accept header, the `why`
  page (text/html), the `why` text (text/plain) or a ClaimResponse (application/fhir+json).
- GET /questionnaire/{payer}: the payer's FHIR Questionnaire, as `lumakras questionnaire` prints it.
- GET /health, GET /version (with the kb's digests).
- GET / and POST /: the page where a person pastes, uploads or picks a request and reads the answers;
  GET /form/{payer} and POST /form/{payer}: the payer's questionnaire as a form.

Bad input is a 400 (the document cannot be read) or a 422 (it is read, and a field is refused) with the
CLI's one-line message; a body past the limit is a 413; never a stack trace. What decides runs on the
worker's one engine thread (worker.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .. import __version__
from ..core.escape import one_line
from ..core.inputs import set_limits
from ..core.kb import KbError
from ..core.request import token_key
from .config import ServeConfig
from .limits import BodyLimit, SecurityHeaders
from .negotiate import Problem, answered, best_format, problem_response
from .page import PageInput, form_page, index_page, questionnaire_response, result_page
from .runs import Run
from .worker import EngineThread

MEDIA_JSON = "application/json"
MEDIA_FHIR = "application/fhir+json"


def build_app(config: ServeConfig | None = None) -> Starlette:
    """The service: the kb is loaded when the app starts (in each worker process), on its engine thread."""
    config = config or ServeConfig.from_env()
    state: dict[str, EngineThread] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            state["engine"] = EngineThread(config.kb_paths, config.limits, config.today_date)
        except KbError as exc:  # the CLI's line; the server then stops (uvicorn exits 3, as the CLI does)
            sys.stderr.write(f"lumakras: knowledge base: {exc}\n")
            raise SystemExit(3) from None
        try:
            yield
        finally:
            state.pop("engine").close()

    def engine() -> EngineThread:
        return state["engine"]

    async def decide(request: Request) -> Response:
        """POST /decide and POST /why: the same answer; /why's text is `why`'s, and it reads why's options."""
        fmt = best_format(request.headers.get("accept", ""), "json")
        try:
            payer = _payers(request, engine())
            source = _source(request)
            body = await request.body()
            run = await engine().decide(source, payer, body=body, is_json=_is_json(request))
        except Problem as p:
            return problem_response(p, fmt)
        except KbError as exc:
            return problem_response(Problem(500, f"knowledge base: {exc}"), fmt)
        return answered(run, fmt, request.url.path == "/why", _why_options(request), every_payer=payer == "all")

    async def questionnaire(request: Request) -> Response:
        from ..core.fhir.questionnaire import questionnaire as make
        from ..core.stream import dumps

        payer = token_key(request.path_params["payer"])
        kb = engine().decider.kb
        if payer not in kb.payers():
            return problem_response(Problem(404, f"payer: unknown payer {one_line(payer)!r}; one of "
                                                 f"{', '.join(kb.payers())}"), "json")
        day = config.today_date or dt.date.today()
        text = await engine().run(lambda: dumps(make(kb, payer, day)) + "\n")
        return Response(text, media_type=MEDIA_FHIR)

    async def health(_request: Request) -> Response:
        payers = await engine().run(lambda: list(engine().decider.kb.payers()))  # the engine thread answers
        return JSONResponse({"status": "ok", "payers": payers, "worker": os.getpid()})  # which process answered

    async def version(_request: Request) -> Response:
        kb = engine().decider.kb
        return JSONResponse({"version": __version__, "kb_digest": kb.digest, "kb_files": len(kb.file_digests),
                             "payers": {p: {"policy": kb.policies[p].id, "revision": kb.policies[p].revision,
                                            "kb_digest": kb.payer_digest(p)} for p in kb.payers()}})

    async def openapi_json(_request: Request) -> Response:
        from .openapi import openapi

        return JSONResponse(openapi(tuple(engine().decider.kb.payers())))

    async def index(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(index_page(engine().decider.kb, config.examples))
        form = await request.form(max_files=1, max_fields=64, max_part_size=config.max_body)
        try:
            given = await PageInput.from_form(form, engine().decider.kb, config.examples)
            run: Run = await engine().decide(given.source, given.payer, body=given.data, is_json=given.is_json)
        except Problem as p:
            return HTMLResponse(index_page(engine().decider.kb, config.examples, problem=p), status_code=p.status)
        return HTMLResponse(result_page(engine().decider.kb, config.examples, given, run),
                            status_code=200 if run.answers or run.error is None else run.status)

    async def form(request: Request) -> Response:
        from ..core.fhir.questionnaire import questionnaire as make

        payer = token_key(request.path_params["payer"])
        kb = engine().decider.kb
        if payer not in kb.payers():
            return HTMLResponse(index_page(kb, config.examples, problem=Problem(404, f"payer: unknown payer "
                                                                                f"{one_line(payer)!r}")), 404)
        day = config.today_date or dt.date.today()
        q = await engine().run(make, kb, payer, day)
        if request.method == "GET":
            return HTMLResponse(form_page(kb, payer, q))
        fields = await request.form(max_files=0, max_fields=512, max_part_size=config.max_body)
        try:
            doc = questionnaire_response(q, fields, payer, day)
        except Problem as p:
            return HTMLResponse(form_page(kb, payer, q, problem=p, filled=fields), status_code=p.status)
        given = PageInput(data=b"", source=f"questionnaire form ({payer})", is_json=True, payer=payer,
                          shown=f"{kb.policies[payer].id} questionnaire")
        run = await engine().decide(given.source, payer, doc=doc)
        return HTMLResponse(result_page(kb, config.examples, given, run),
                            status_code=200 if run.answers or run.error is None else run.status)

    routes = [Route("/", index, methods=["GET", "POST"]), Route("/decide", decide, methods=["POST"]),
              Route("/why", decide, methods=["POST"]), Route("/questionnaire/{payer}", questionnaire),
              Route("/form/{payer}", form, methods=["GET", "POST"]), Route("/health", health),
              Route("/version", version), Route("/openapi.json", openapi_json)]
    middleware = [Middleware(SecurityHeaders), Middleware(BodyLimit, limit=config.max_body)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={Exception: _internal, HTTPException: _http_problem})


def create_app() -> Starlette:
    """The ASGI factory uvicorn calls in each worker process (`lumakras serve`): the process's limits are
    the command's --max-* (they also bound the kb's files, as in the CLI)."""
    config = ServeConfig.from_env()
    set_limits(config.limits)
    return build_app(config)


def _payers(request: Request, engine: EngineThread) -> str | list[str] | None:
    """?payer= : a payer, several (repeated), or all; none: the request's own."""
    kb = engine.decider.kb
    asked = [token_key(p) for p in request.query_params.getlist("payer") if p.strip()]
    for p in asked:
        if p not in (*kb.payers(), "all"):
            raise Problem(400, f"payer: unknown payer {one_line(p)!r}; one of {', '.join([*kb.payers(), 'all'])}")
    if not asked:
        return None
    if "all" in asked:
        return "all"
    return asked[0] if len(asked) == 1 else list(dict.fromkeys(asked))


def _source(request: Request) -> str:
    """?source= names the request as a file would (its suffix tells YAML from JSON); default 'request'."""
    return one_line(request.query_params.get("source", "request"))[:256] or "request"


def _is_json(request: Request) -> bool | None:
    """By the Content-Type where it says: JSON (application/json, application/fhir+json) or YAML."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in (MEDIA_JSON, MEDIA_FHIR) or kind.endswith("+json"):
        return True
    if kind in ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"):
        return False
    return None


def _why_options(request: Request) -> dict[str, Any]:
    q = request.query_params
    nearest = q.get("nearest", "3")
    return {"nearest": int(nearest) if nearest.isdigit() else 3, "show_all": q.get("all") in ("1", "true"),
            "show_rules": q.get("rules") not in ("0", "false")}


async def _internal(request: Request, exc: Exception) -> Response:
    """Never a stack trace to the client: the server's log has it."""
    return problem_response(Problem(500, "internal error (the server's log has the details)"),
                            best_format(request.headers.get("accept", ""), "json"))


async def _http_problem(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route or method, a form it cannot parse) as the service's problems."""
    status = getattr(exc, "status_code", 400)
    path = one_line(request.url.path)[:200]
    message = {404: f"no such page: {path}", 405: f"{request.method} is not served at {path}"}.get(
        status, f"request: {one_line(str(getattr(exc, 'detail', exc)))[:300]}")
    return problem_response(Problem(status, message), best_format(request.headers.get("accept", ""), "json"))
