"""`lumakras query`: a Prolog-style question to the knowledge base, optionally about requests.

A query is a rule body: atoms joined by `&`, negation `~atom(...)`, comparisons `(X >= 18)`,
`(F == 'member.age')`, with an optional leading `?-` and trailing `.`. It is given on the command line or in
a saved `.dlq` file (comment lines starting with `#`, then the query, which may span lines).

Safety: `pyDatalog.load` executes its text as Python, so the query text never reaches it. The query is
tokenized and parsed by `kbtext` (the loader of kb/ files) and one rule is re-emitted from its checked tokens:
`lumakras_query_N(V1, V2, ...) <= body`, V1.. being the query's named variables in order of first appearance
(a variable starting with `_` is "don't care": it joins like any other but is not shown). That rule is
loaded, asked through `Literal.make` (data, never text), and retracted.

Checked before asking, each as one line and exit 2: syntax (`query:LINE:` or `FILE:LINE:`); every predicate
is one the kb defines, with its arity, or a request predicate (`unknown predicate foo/2 (did you mean ...?)`);
safety: a variable under `~` or in a comparison must be bound by an earlier positive atom (pyDatalog would
otherwise answer nothing, or fail). `(X == expr)` binds an unbound X, as in pyDatalog.

Requests (`--request`; the files that follow it are requests too, as a shell glob gives them): each is
decided by the engine first, under its own payer, `--payer P` or every payer with `--payer all` (the engine
asserts its facts under its internal number 1 and retracts them). Then every request read is asserted under
its own number 2, 3, ...: its facts (`Request.facts`) and `request_file/2`, `request_id/2`, `decision/3`,
`status/4` (every node of each derivation), `decided_by/3` (when a pathway was derived) and `candidate/3` (the
pathways its request type is reviewed under), declared in kb/engine/request.dl. All are retracted after
answering. A request that cannot be read, or a payer that cannot decide it, is one line on stderr and exit 2
at the end; the others are still loaded and answered (a request no payer could decide still has its own
facts, without decisions).

Request 0: kb/engine/request.dl declares the request predicates with placeholder facts about request 0,
never a real request. An answer never mentions it: a variable in the request-number place (the first
argument) of a positive atom of a request predicate, or of a kb predicate derived from one (documented,
approval_months, leaf, ...), is required to differ from 0. A query that names 0 itself still gets the
placeholders.
"""

from __future__ import annotations

import difflib
import json
import os
import pickle
import re
import select
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyDatalog import pyDatalog
from pyDatalog.pyParser import Literal, Term

from ..core.api import Decider
from ..core.engine import Derivation
from ..core.escape import json_safe, one_line, shown
from ..core.inputs import InputError, read_text
from ..core.kb import KnowledgeBase, assert_facts, natural_key, retract_facts
from ..core.kbtext import KbSyntaxError, Parser, Token, Var, tokenize
from ..core.request import Fact, RequestError, load_request

# The predicates a request becomes (kb/engine/request.dl), with their arities.
REQUEST_PREDICATES: dict[str, int] = {
    "request": 1, "request_date": 2, "value": 3, "item": 3, "listed": 2,
    "request_file": 2, "request_id": 2, "decision": 3, "status": 4, "decided_by": 3, "candidate": 3,
}
# The engine asserts under 1 (engine._RID); the query's requests come after it.
FIRST_RID = 2

# Possessive: a comment is a whole line, and nothing backtracks (a long comment cannot make them slow).
_PROMPT = re.compile(r"\A(?:\s|#[^\n]*+)*+(\?-)")
_FULL_STOP = re.compile(r"(\.)(?:\s|#[^\n]*+)*+\Z")
_CONSTANTS = {"True", "False", "None"}
_rule_counter = 0


class QueryError(Exception):
    """A query that cannot be asked: one line naming where."""


@dataclass
class Condition:
    """One literal of the query: an atom (name set) or a comparison (name None)."""

    text: str  # re-emitted from tokens by kbtext's parser
    line: int
    negated: bool
    variables: list[str]
    name: str | None = None
    args: tuple = ()
    tokens: list[Token] = field(default_factory=list)


@dataclass
class Query:
    source: str  # "query" for command-line text, else the file as given
    conditions: list[Condition]
    variables: list[str]  # shown, in order of first appearance

    def where(self, line: int) -> str:
        """How errors name the query: the brief form for command-line text, file:line for a file."""
        return "query" if self.source == "query" else f"{self.source}:{line}"


@dataclass
class Answer:
    variables: list[str]
    rows: list[tuple[Any, ...]]


# ----------------------------------------------------------------------------------------------------------
# Reading and parsing
# ----------------------------------------------------------------------------------------------------------


def read_query(query_or_file: str) -> tuple[str, str]:
    """(source, text): a `.dlq` argument is a file to read; anything else is the query itself."""
    if not query_or_file.endswith(".dlq"):
        return "query", query_or_file
    try:
        return query_or_file, read_text(query_or_file)
    except InputError as exc:
        message = "no such query file" if exc.message == "no such file" else exc.message
        raise QueryError(f"{exc.source}: {message}") from None


def _blank(text: str, match: re.Match[str] | None) -> str:
    """Replace the matched `?-` or `.` by spaces, keeping lines and columns."""
    if match is None:
        return text
    start, end = match.span(1)
    return text[:start] + " " * (end - start) + text[end:]


def parse_query(text: str, source: str = "query") -> Query:
    """Tokenize and parse a query with kbtext; raise QueryError naming source:line on a syntax error."""
    text = _blank(text, _PROMPT.search(text))
    stop = _FULL_STOP.search(text)
    if stop is not None and _tokenizes(text[:stop.start(1)], source):  # not a '.' inside a string
        text = _blank(text, stop)
    try:
        tokens = [t for t in tokenize(text, source) if t.kind not in ("comment", "newline")]
        if not tokens:
            raise KbSyntaxError(source, 1, "empty query: write atoms joined by &, e.g. drug(X)")
        parser = Parser(tokens, source)
        conditions: list[Condition] = []
        while True:
            start, atoms_before = parser.i, len(parser.body_atoms)
            emitted = parser.literal()
            own = tokens[start:parser.i]
            variables = [t.text for t in own if t.kind == "name" and _is_variable(t.text)]
            cond = Condition(text=emitted, line=own[0].line, negated=own[0].text == "~",
                             variables=list(dict.fromkeys(variables)), tokens=own)
            if len(parser.body_atoms) > atoms_before:
                cond.name, _neg, cond.args = parser.body_atoms[-1]
            conditions.append(cond)
            if parser.at_end():
                break
            parser.take("&")
    except KbSyntaxError as exc:
        raise QueryError(str(exc)) from None
    seen = dict.fromkeys(v for c in conditions for v in c.variables)
    shown = [v for v in seen if not v.startswith("_")]
    return Query(source, conditions, shown)


def _tokenizes(text: str, source: str) -> bool:
    try:
        tokenize(text, source)
    except KbSyntaxError:
        return False
    return True


def _is_variable(name: str) -> bool:
    return (name[0].isupper() or name.startswith("_")) and name not in _CONSTANTS


# ----------------------------------------------------------------------------------------------------------
# Checking
# ----------------------------------------------------------------------------------------------------------


def known_predicates(kb: KnowledgeBase) -> dict[str, set[int]]:
    """Every predicate a query may use, name -> arities: the kb's facts and rules and the request predicates."""
    out: dict[str, set[int]] = {}
    for s in kb.statements:
        out.setdefault(s.head, set()).add(len(s.args))
    for name, arity in REQUEST_PREDICATES.items():
        out.setdefault(name, set()).add(arity)
    return out


def check_query(query: Query, kb: KnowledgeBase) -> None:
    """Unknown predicates and unsafe variables, before pyDatalog sees the query."""
    known = known_predicates(kb)
    for cond in query.conditions:
        if cond.name is None:
            continue
        arity = len(cond.args)
        if arity in known.get(cond.name, set()):
            continue
        if cond.name in known:
            hint = " or ".join(f"{cond.name}/{a}" for a in sorted(known[cond.name]))
        else:
            close = difflib.get_close_matches(cond.name, list(known), n=3, cutoff=0.6)
            hint = ", ".join(f"{n}/{a}" for n in close for a in sorted(known[n]))
        more = f" (did you mean {hint}?)" if hint else ": the knowledge base does not define it"
        raise QueryError(f"{query.where(cond.line)}: unknown predicate {cond.name}/{arity}{more}")
    bound: set[str] = set()
    for cond in query.conditions:
        if cond.name is not None and not cond.negated:
            bound.update(cond.variables)
            continue
        binds = _binds(cond, bound)
        unbound = [v for v in cond.variables if v not in bound and v != binds]
        if unbound:
            what = "a negated atom" if cond.name is not None else "a comparison"
            raise QueryError(f"{query.where(cond.line)}: unsafe query: {', '.join(unbound)} in {what} "
                             f"({cond.text}) must be bound by a positive atom before it")
        if binds:
            bound.add(binds)


def _binds(cond: Condition, bound: set[str]) -> str | None:
    """The variable X that `(X == expr)` binds (pyDatalog assigns an unbound left side), else None."""
    toks = cond.tokens
    if cond.negated or cond.name is not None or len(toks) < 5:
        return None
    left, op = toks[1], toks[2]
    if left.kind == "name" and _is_variable(left.text) and left.text not in bound and op.text == "==":
        return left.text
    return None


def request_keyed(kb: KnowledgeBase) -> set[str]:
    """The request predicates and every kb predicate derived from one through its first argument."""
    keyed = set(REQUEST_PREDICATES)
    changed = True
    while changed:
        changed = False
        for s in kb.statements:
            if s.is_fact or s.head in keyed or not s.args or not isinstance(s.args[0], Var):
                continue
            if any(n in keyed and not neg and a and a[0] == s.args[0] for n, neg, a in s.body_atoms):
                keyed.add(s.head)
                changed = True
    return keyed


def rule_text(query: Query, name: str, keyed: set[str]) -> str:
    """The one rule pyDatalog loads: its text is built only from the parser's re-emitted conditions."""
    body = [c.text for c in query.conditions]
    not_zero = dict.fromkeys(c.args[0] for c in query.conditions
                             if c.name in keyed and not c.negated and c.args and isinstance(c.args[0], Var))
    body += [f"({v} != 0)" for v in not_zero]
    return f"{name}({', '.join(query.variables)}) <= {' & '.join(body)}"


# ----------------------------------------------------------------------------------------------------------
# Asking
# ----------------------------------------------------------------------------------------------------------


def _fresh_name(kb: KnowledgeBase) -> str:
    global _rule_counter
    while True:
        _rule_counter += 1
        name = f"lumakras_query_{_rule_counter}"
        if not kb.defined(name):
            return name


def _retract_rule(name: str, variables: list[str]) -> None:
    """Remove the query's rule, so that a long-lived kb (a test session, a library user) keeps only its own."""
    head = Literal.make(name, [Term(v) for v in variables])
    with suppress(Exception):  # nothing to retract if the rule never loaded
        head <= None  # noqa: B015 - pyDatalog: `head <= None` retracts the head's clauses


def sort_key(row: tuple[Any, ...]) -> tuple:
    """Numbers in order before text; text as the policies number it (I.A.2 before I.A.10)."""
    return tuple((0, v, ()) if isinstance(v, (int, float)) and not isinstance(v, bool)
                 else (1, 0, natural_key(display(v))) for v in row)


def ask(query: Query, kb: KnowledgeBase) -> Answer:
    """Check the query, load it as one rule, ask it, retract the rule; answers sorted."""
    check_query(query, kb)
    kb.activate()
    name = _fresh_name(kb)
    text = rule_text(query, name, request_keyed(kb))
    try:
        pyDatalog.load(text)
        found = Literal.make(name, [Term(v) for v in query.variables]).ask()
    except AttributeError as exc:  # "Predicate without definition": a request predicate the --kb lacks
        raise QueryError(f"{query.where(1)}: a predicate of the query has no fact or rule: {exc}") from None
    except Exception as exc:  # pyDatalog's own complaint, or a comparison between text and a number
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        if isinstance(exc, TypeError):
            message += " (a comparison met text and a number: narrow the variable to numbers before it)"
        raise QueryError(f"{query.where(1)}: pyDatalog could not answer: {message}") from None
    finally:
        _retract_rule(name, query.variables)
    raw = {tuple(r) for r in (found or [])}
    for row in sorted(raw, key=repr):  # pyDatalog answers an arithmetic error with the exception as the value
        for variable, value in zip(query.variables, row, strict=False):
            if isinstance(value, BaseException):
                raise QueryError(f"{query.where(1)}: arithmetic failed for {variable}: {value} "
                                 f"(with {display_row(query.variables, row)}); narrow the variables to numbers "
                                 "before computing with them")
    rows = sorted(raw, key=sort_key)
    return Answer(list(query.variables), rows)


def display_row(variables: list[str], row: tuple[Any, ...]) -> str:
    return ", ".join(f"{v} = {shown(x)}" for v, x in zip(variables, row, strict=False)
                     if not isinstance(x, BaseException))


# ----------------------------------------------------------------------------------------------------------
# Requests as facts
# ----------------------------------------------------------------------------------------------------------


def derivation_facts(rid: int, derivations: dict[str, Derivation]) -> list[Fact]:
    """decision/3, status/4, decided_by/3 and candidate/3 of a request's derivations, about request number rid."""
    out: list[Fact] = []
    for payer, d in derivations.items():
        out.append(("decision", rid, payer, d.decision))
        out += [("status", rid, payer, node, status) for node, status in sorted(d.status.items())]
        if d.pathway is not None:
            out.append(("decided_by", rid, payer, d.pathway))
        out += [("candidate", rid, payer, pathway) for pathway in d.candidates]
    return out


def request_facts(decider: Decider, paths: list[Path], payer: str | None) -> tuple[list[Fact], list[str]]:
    """Decide each request, then build its facts under numbers 2, 3, ...; (facts, one-line errors)."""
    facts: list[Fact] = []
    errors: list[str] = []
    rid = FIRST_RID
    for path in paths:
        try:
            request = load_request(path, decider.kb.payers(), decider.today, decider.kb)
        except RequestError as exc:
            errors.append(str(exc))
            continue
        payers: list[str] = []
        try:
            for p in decider.payers_for(request, payer):
                try:
                    decider.engine.check(request, p)
                    payers.append(p)
                except RequestError as exc:
                    errors.append(str(exc))
        except RequestError as exc:
            errors.append(str(exc))
        derivations = decider.engine.decide_many(request, payers) if payers else {}
        facts += decider.kb.request_facts(request, rid)
        facts += [("request_file", rid, str(path)), ("request_id", rid, request.id)]
        facts += derivation_facts(rid, derivations)
        rid += 1
    return facts, errors


@contextmanager
def asserted(facts: list[Fact]) -> Iterator[None]:
    """Assert the facts for the duration of the block; retract every one of them afterwards."""
    done: list[Fact] = []
    try:
        for fact in facts:
            assert_facts([fact])
            done.append(fact)
        yield
    finally:
        retract_facts(done)


# ----------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------


def display(value: Any) -> str:
    """A value as text on one line (control characters from request data shown escaped)."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _json_value(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        return value
    return str(value)


def to_json(answer: Answer) -> str:
    """A list of objects {variable: value}; a yes/no query gives [{}] for yes and [] for no."""
    rows = [{v: _json_value(x) for v, x in zip(answer.variables, row, strict=True)} for row in answer.rows]
    return json_safe(json.dumps(rows, indent=2, ensure_ascii=False))


def to_table(answer: Answer) -> str:
    """For people: a header of variable names, one row per answer, then the count; yes/no without variables."""
    if not answer.variables:
        return "yes" if answer.rows else "no"
    n = len(answer.rows)
    count = f"{n} answer" if n == 1 else f"{n} answers"
    if not answer.rows:
        return count
    cells = [[one_line(display(x)) for x in row] for row in answer.rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(answer.variables)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(answer.variables, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join([*lines, count])


# ----------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------


def run_query(decider: Decider, query_or_file: str, requests: list[Path] | None = None,
              payer: str | None = None, timeout: float | None = None,
              max_rows: int | None = None) -> tuple[Answer, list[str]]:
    """Parse, check, load the requests, ask, retract: (answer, one-line request errors). Raises QueryError."""
    source, text = read_query(query_or_file)
    query = parse_query(text, source)
    check_query(query, decider.kb)
    facts, errors = request_facts(decider, list(requests or []), payer)
    decider.kb.activate()
    with asserted(facts):
        answer = bounded(lambda: ask(query, decider.kb), timeout, query.where(1))
    if max_rows is not None and len(answer.rows) > max_rows:
        raise QueryError(f"{query.where(1)}: {len(answer.rows):,} answers, more than --max-rows {max_rows:,}: "
                         "narrow the query (bind a variable, add a condition)")
    return answer, errors


def bounded(ask_it: Callable[[], Answer], seconds: float | None, where: str) -> Answer:
    """Ask in a forked child process and give up after `seconds`: pyDatalog's compiled engine does not
    return to Python while it works (a signal handler would run only when it is done), so a query with no
    bound variable (drug(X0) & drug(X1) & drug(X2): millions of rows) is stopped by ending its process.
    The child has the loaded kb and the asserted facts (fork) and sends back the answer or the error."""
    if not seconds or not hasattr(os, "fork"):
        return ask_it()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, send, end without running the parent's cleanup
        os.close(read_end)
        try:
            result: tuple[str, Any] = ("answer", ask_it())
        except QueryError as exc:
            result = ("error", str(exc))
        except BaseException as exc:  # noqa: BLE001 - anything else is still one line for the parent
            result = ("error", f"{where}: pyDatalog could not answer: {exc.__class__.__name__}: {exc}")
        with os.fdopen(write_end, "wb") as out:
            out.write(pickle.dumps(result))
        os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                raise QueryError(f"{where}: no answer within {seconds:g} s (--timeout): narrow the query "
                                 "(bind a variable, add a condition)")
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if not chunks:
        raise QueryError(f"{where}: the query's process ended without an answer")
    kind, value = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's answer, through our own pipe
    if kind == "error":
        raise QueryError(value)
    return value


