"""`lumakras query`: the command; what it does is lumakras_logic/authoring/query.py."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..authoring.query import QueryError, run_query, to_json, to_table
from ..core.exits import EXIT_BAD_INPUT, EXIT_BAD_KB, fail
from ..core.kb import KbError
from ..core.request import REQUEST_SUFFIXES
from .common import json_option, kb_option, known_payers, payer_option, session


@click.command("query")
@click.argument("query_or_file")
@click.argument("more_requests", nargs=-1, type=click.Path(path_type=Path), metavar="[REQUEST]...")
@click.option("--request", "requests", multiple=True, type=click.Path(path_type=Path),
              help="A request (YAML or JSON) to decide and load as facts about its own request number "
                   "(repeatable). The files that follow it are requests too: --request queries/*.yaml.")
@payer_option("With --request: a payer of the kb (centene, cigna, ...) or all "
              "(default: each request's own 'payer').")
@json_option("Print a JSON list of objects {variable: value}.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Give up on a query that has no answer within this many seconds (exit 2).")
@click.option("--max-rows", type=click.IntRange(1), default=100_000, show_default=True,
              help="Refuse an answer of more rows than this (exit 2).")
@kb_option
def query_command(query_or_file: str, more_requests: tuple[Path, ...], requests: tuple[Path, ...],
                  payer: str | None, as_json: bool, timeout: float, max_rows: int) -> None:
    """Ask the knowledge base a Prolog-style QUERY (text, or a saved .dlq file).

    A query is a rule body: atoms joined by &, ~atom(...) for negation, comparisons such as (X >= 18) or
    (F == 'member.age'); Variables start with a capital letter, and _Name is a variable that is not shown.
    Prints one row per answer (yes/no for a query without variables). With --request, each request is
    decided first and can be joined through request_file/2, request_id/2, decision/3, status/4,
    decided_by/3 and candidate/3 (kb/engine/request.dl). A bad query is one line and exit 2; so is a request that cannot
    be read, after the others are answered.

    \b
    Examples:
      lumakras query "drug_in_class(Drug, 'egfr_inhibitor')"
      lumakras query queries/age-criteria.dlq --json
      lumakras query queries/kras-failures.dlq --request queries/*.yaml --payer all
    """
    if query_or_file.lower().endswith(REQUEST_SUFFIXES):
        fail(f"{query_or_file} is a request, not a query: put the query first, "
             "e.g. lumakras query QUERY --request queries/*.yaml")
    if more_requests and not requests:
        fail(f"unexpected argument {str(more_requests[0])!r} after the query: give requests with --request")
    decider = session().decider()
    known_payers(decider, [payer] if payer else [])
    try:
        answer, errors = run_query(decider, query_or_file, [*requests, *more_requests], payer, timeout, max_rows)
    except QueryError as exc:
        fail(str(exc))
    except KbError as exc:
        fail(f"knowledge base: {exc}", EXIT_BAD_KB)
    for error in errors:
        click.echo(f"lumakras: {error}", err=True)
    click.echo(to_json(answer) if as_json else to_table(answer))
    sys.exit(EXIT_BAD_INPUT if errors else 0)

