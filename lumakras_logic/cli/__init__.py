"""The `lumakras` command line.

Exit status: 0 every request answered (whatever the decision); 1 `check` or `test` found problems; 2 a
request, case or query could not be read (the others are still answered); 3 the knowledge base could not
be loaded; 130 interrupted, 143 terminated (lumakras_logic/core/exits.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..core.answer import Answer
from ..core.api import Decider, Outcome
from ..core.csv_out import CsvRows
from ..core.escape import one_line
from ..core.exits import EXIT_BAD_INPUT as EXIT_BAD_REQUEST
from ..core.exits import EXIT_BAD_KB, EXIT_PROBLEMS, fail
from ..core.inputs import DEFAULT as DEFAULT_LIMITS
from ..core.inputs import STDIN, Limits, set_limits
from ..core.kb import KbError
from ..core.parallel import map_chunks
from ..core.render import summary, to_json, why
from ..core.request import request_files
from ..core.stream import JsonArray, dumps
from .common import (
    UnixGroup,
    format_option,
    jobs_option,
    kb_option,
    known_payers,
    output_format,
    payer_option,
    progress,
    session,
)

FHIR_FORMATS = ("text", "json", "fhir")
FHIR_HELP = ("text for people, json for the answer (docs/answers.md), fhir for a Da Vinci PAS-style FHIR R4 "
             "ClaimResponse per answer (docs/fhir.md).")
WHY_FORMATS = (*FHIR_FORMATS, "html")
WHY_HELP = FHIR_HELP[:-1] + ", html for one self-contained printable page (docs/html.md)."
DECIDE_FORMATS = (*FHIR_FORMATS, "csv")
DECIDE_HELP = FHIR_HELP[:-1] + ", csv for one row per request and payer (docs/answers.md, \"CSV for batches\")."


def _outcomes(decider: Decider, paths: list[Path], payer: str | None, jobs: int = 1) -> Iterator[Outcome]:
    """The answers file by file, in order, on `jobs` processes; a kb that fails on a request (a leaf with no
    rule) ends with exit 3."""
    try:
        yield from map_chunks(lambda chunk: list(decider.answer_files(chunk, payer)), paths, jobs)
    except KbError as exc:
        click.echo(f"lumakras: knowledge base: {exc}", err=True)
        sys.exit(EXIT_BAD_KB)


def _limit(name: str, what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    default = getattr(DEFAULT_LIMITS, name.replace("-", "_"))
    return click.option(f"--{name}", type=click.IntRange(1), default=default, show_default=True,
                        help=f"Refuse an input file with more than this many {what}.")


@click.group(cls=UnixGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="lumakras")
@_limit("max-bytes", "bytes")
@_limit("max-depth", "levels of nesting")
@_limit("max-nodes", "values, YAML aliases expanded")
@_limit("max-items", "entries in one list")
@_limit("max-string", "characters in one text")
@_limit("max-digits", "digits in one number")
@kb_option
def main(max_bytes: int, max_depth: int, max_nodes: int, max_items: int, max_string: int, max_digits: int) -> None:
    """Decide and explain prior-authorization requests for sotorasib (Lumakras) under Centene
    CP.PHAR.549 and Cigna's Lumakras PA policy.

    Every file read (requests, case files, kb files, queries) must be a regular file (or - for standard
    input) within the --max-* limits, which no real request reaches; a file past one is refused in one
    line naming it, and the others are still answered.

    --kb here serves every command that reads a kb, and is loaded once; a command's own --kb adds to it
    (both are loaded, these first).

    \b
    Examples:
      lumakras decide queries/*.yaml --payer all
      lumakras why queries/centene-deny-prior-krazati.yaml --payer centene
      lumakras compare queries/cigna-deny-nsclc-kras-test-other.yaml
      lumakras diff --condition nsclc
      lumakras --max-items 100000 decide big-request.yaml
      lumakras --kb kb --kb my-payer/ decide my-request.yaml --payer all
    """
    set_limits(Limits(max_bytes=max_bytes, max_depth=max_depth, max_nodes=max_nodes, max_items=max_items,
                      max_string=max_string, max_digits=max_digits))


@main.command()
@click.argument("requests", nargs=-1, required=True, type=click.Path(path_type=Path))
@payer_option()
@format_option("text", DECIDE_HELP, DECIDE_FORMATS, "Print the answer as JSON (docs/answers.md): --format json.")
@jobs_option("Processes to decide on (default: every core); the output is the same on any number.")
@kb_option
def decide(requests: tuple[Path, ...], payer: str | None, fmt: str, as_json: bool, jobs: int) -> None:
    """Decide each REQUEST (YAML or JSON) under a payer's policy.

    REQUESTS are files, folders (the .yaml, .yml and .json files under them) or - for standard input.
    Prints one JSON object with --json, or an array for several requests or --payer all; with --format
    fhir, one ClaimResponse, or a Bundle (type collection) of them; with --format csv, a header and one row
    per request and payer. A request that cannot be read gets a one-line error naming the file and field
    (exit 2; in CSV, also a row with its error); the others are answered.

    \b
    Examples:
      lumakras decide queries/centene-approve-nsclc-I.A.yaml --payer centene --json
      lumakras decide queries/*.yaml --payer all
      lumakras decide queries/ --payer all --json --jobs 2
      lumakras decide --kb kb --kb my-payer/ my-request.yaml --payer all
      lumakras decide queries/centene-deny-prior-krazati.yaml --payer centene --format fhir
      lumakras decide queries/ --payer all --format csv > decisions.csv
    """
    fmt = output_format(fmt, as_json)
    as_json = fmt == "json"
    decider = session().decider()
    known_payers(decider, [payer] if payer else [])
    failed = False
    files = request_files(requests)  # a folder stands for the request files under it
    single = fmt != "text" and len(files) == 1 and payer != "all"  # one object, else an array (a Bundle)
    stream = _AnswerStream(fmt, single)
    table = CsvRows(lambda text: click.echo(text, nl=False)) if fmt == "csv" else None  # the header now
    if any(str(f) == STDIN for f in files):  # a worker process reads no standard input: this one does
        jobs = 1
    outcomes = _outcomes(decider, files, payer, jobs)
    for outcome in progress(outcomes, "deciding", len(files)):  # each answer printed as it is made
        if outcome.error is not None:
            for problem in getattr(outcome.error, "problems", None) or [outcome.error]:
                click.echo(f"lumakras: {problem}", err=True)
            failed = True
        if table is not None:  # a row for each error too, so that the table accounts for every file and payer
            table.add(outcome)
            continue
        for a in outcome.answers:
            if not as_json and fmt == "text":
                click.echo(summary(a))
            else:
                stream.add(a)
    stream.close()
    sys.exit(EXIT_BAD_REQUEST if failed else 0)


class _AnswerStream:
    """Answers written as they are made: one JSON answer or one ClaimResponse alone (`single`), else a JSON
    array of answers or a Bundle (type collection) of ClaimResponses (docs/fhir.md)."""

    def __init__(self, fmt: str, single: bool) -> None:
        self.fmt, self.single, self.count = fmt, single, 0
        write = lambda text: click.echo(text, nl=False)  # noqa: E731
        self.array: JsonArray | None = None
        self.bundle = None
        if not single and fmt == "json":
            self.array = JsonArray(write)
        elif not single and fmt == "fhir":
            from ..core.stream import JsonObject

            self.bundle = JsonObject(write)

    def add(self, a: Answer) -> None:
        if self.fmt == "fhir":
            from ..core.fhir.claimresponse import bundle_head, claim_response

            resource = claim_response(a)
            if self.bundle is None:
                click.echo(dumps(resource))
                return
            if self.array is None:
                for key, value in bundle_head():
                    self.bundle.field(key, value)
                self.array = self.bundle.array("entry")
            self.array.add({"resource": resource})
        elif self.array is None:
            click.echo(to_json([a], single=True))
        else:
            self.array.add(a.to_json())

    def close(self) -> None:
        if self.bundle is not None:
            if self.array is None:  # no answer: an empty Bundle
                from ..core.fhir.claimresponse import bundle_head

                for key, value in bundle_head():
                    self.bundle.field(key, value)
            else:
                self.array.close()
            self.bundle.close()
        elif self.array is not None:
            self.array.close()


@main.command("why")
@click.argument("request", type=click.Path(path_type=Path))
@payer_option()
@click.option("--nearest", type=int, default=3, show_default=True,
              help="On deny or pend, how many of the nearest pathways to show (0: all).")
@click.option("--no-rules", is_flag=True, help="Leave out the kb file:line each criterion rests on.")
@click.option("--all", "show_all", is_flag=True,
              help="On deny or pend, also show the pathways for another diagnosis (folded by default).")
@format_option("text", WHY_HELP, WHY_FORMATS, "Print the answer as JSON instead: --format json.")
@click.option("--questionnaire", is_flag=True,
              help="On pend, print instead a FHIR R4 Questionnaire of what to send (the to_document fields); "
                   "on another decision, say so on stderr and print nothing (docs/fhir.md).")
@kb_option
def why_command(request: Path, payer: str | None, nearest: int, no_rules: bool, show_all: bool,
                fmt: str, as_json: bool, questionnaire: bool) -> None:
    """Explain the decision on REQUEST for a person: the decision first, then the derivation.

    On approve or refer, the derived pathway's criteria as a tree, each with its status, the policy's
    words and the facts and rules it rests on. On deny or pend, the nearest pathways with every
    criterion met / not met / not documented, and on pend what to send.

    \b
    Examples:
      lumakras why queries/centene-deny-prior-krazati.yaml --payer centene
      lumakras why queries/cigna-pend-kras-test-undocumented.yaml --payer cigna
      lumakras why queries/cigna-pend-kras-test-undocumented.yaml --payer cigna --questionnaire
      lumakras why queries/centene-deny-prior-krazati.yaml --payer centene --format fhir
      lumakras why queries/both-pend-unknown-prior-therapy.yaml --payer all --format html > why.html
    """
    fmt = output_format(fmt, as_json)
    if questionnaire and fmt != "text":
        fail(f"--questionnaire and --format {fmt} ask for two outputs; give one")
    decider = session().decider()
    known_payers(decider, [payer] if payer else [])
    failed = False
    for outcome in _outcomes(decider, [request], payer):
        if outcome.error is not None:
            for problem in getattr(outcome.error, "problems", None) or [outcome.error]:
                click.echo(f"lumakras: {problem}", err=True)
            failed = True
        if questionnaire:
            _questionnaires(decider, outcome.answers)
        elif fmt == "html" and outcome.answers:
            from ..core.html import why_page

            click.echo(why_page(outcome.answers, nearest=nearest, show_rules=not no_rules, show_all=show_all),
                       nl=False)
        elif fmt != "text" and outcome.answers:
            stream = _AnswerStream(fmt, single=payer != "all" and len(outcome.answers) == 1)
            for a in outcome.answers:
                stream.add(a)
            stream.close()
        elif outcome.answers:
            click.echo("\n\n".join(why(a, nearest=nearest, show_rules=not no_rules, show_all=show_all)
                                   for a in outcome.answers))
    sys.exit(EXIT_BAD_REQUEST if failed else 0)


def _questionnaires(decider: Decider, answers: list[Answer]) -> None:
    """why --questionnaire: each pend's Questionnaire of what to send (several: a Bundle of them); for an
    answer that is no pend, one line on stderr, since there is nothing to send."""
    from ..core.fhir.questionnaire import bundle, pend_questionnaire

    made = []
    for a in answers:
        if a.decision == "pend":
            made.append(pend_questionnaire(decider.kb, a, a.provenance.request_date))
        else:
            click.echo(f"lumakras: {one_line(a.request)} {a.payer}: {a.decision}, not pend: nothing to send, so no "
                       "questionnaire", err=True)
    if len(made) == 1:
        click.echo(dumps(made[0]))
    elif made:
        click.echo(dumps(bundle(made)))


@main.command("check")
@click.argument("kb_paths", nargs=-1, type=click.Path(path_type=Path))
@kb_option
def check_command(kb_paths: tuple[Path, ...]) -> None:
    """Lint a knowledge base: print each problem as file:line: message; exit 1 if there is any.

    KB_PATHS (or --kb) are kb folders or .dl files, loaded together (default: the project's kb/). It
    reports text outside the Datalog subset; criteria or rules without the policy's words or a citation;
    criteria a pathway names but nothing defines, or defined but in no pathway; predicates used but never
    defined; drugs, classes, regimens, sets and fields the vocabulary lacks; duplicate and contradictory
    facts; and pathways no request can satisfy.

    \b
    Examples:
      lumakras check
      lumakras check kb
    """
    from ..authoring.check import check_kb

    dirs = [*kb_paths, *session().kb_dirs]
    problems, kb = check_kb(dirs or None)
    for problem in problems:
        click.echo(str(problem))
    shown = ", ".join(str(d) for d in dirs) or "kb/"
    if problems:
        click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {shown}", err=True)
        sys.exit(EXIT_PROBLEMS)
    assert kb is not None
    payers = "; ".join(f"{p} {kb.policies[p].id}: {len(kb.pathways.get(p, []))} pathways, "
                       f"{sum(1 for (q, _n) in kb.nodes if q == p)} criteria" for p in kb.payers())
    click.echo(f"{shown}: no problems in {len(kb.statements)} statements of {len(kb.file_digests)} files "
               f"({payers}); every pathway can be met")


@main.command("schema")
@click.argument("what", type=click.Choice(["request", "answer"]), default="request")
@kb_option
def schema_command(what: str) -> None:
    """Print the JSON Schema (draft 2020-12) of the request document, or of the answer (decide --json).

    It is made from the loader's own field table, so a document it accepts is one the loader reads (the
    loader also checks what a schema cannot: a birth date after the request date, an age that disagrees
    with the birth date, duplicate keys, sizes). `payer` takes the payers of the kb (--kb). The copy in
    docs/request.schema.json is the shipped kb's; docs/requests.md explains every field. The answer's
    schema does not depend on the kb, which is then not loaded.

    \b
    Examples:
      lumakras schema request > request.schema.json
      lumakras schema answer > answer.schema.json
      lumakras schema request --kb kb --kb my-payer/
    """
    import json

    from ..core.schema import answer_schema, request_schema

    schema = answer_schema() if what == "answer" else request_schema(tuple(session().decider().kb.payers()))
    click.echo(json.dumps(schema, indent=2, ensure_ascii=False))


@main.command("template")
def template_command() -> None:
    """Print a request to fill in: every field with an example value and a comment on what it holds.

    The template is itself a valid request (an NSCLC request both payers approve): edit it, then decide it.

    \b
    Examples:
      lumakras template > my-request.yaml
      lumakras template | lumakras decide - --payer all
    """
    from ..core.template import request_template

    click.echo(request_template(), nl=False)


# The commands defined in their own modules of cli/ (each imports cli/common.py, never this module),
# imported when asked for.
main.lazy = {"test": ".test:test_command", "rules": ".rules:rules_command", "query": ".query:query_command",
             "compare": ".compare:compare_command", "diff": ".diff:diff_command",
             "impact": ".impact:impact_command", "convert": ".convert:convert_command",
             "questionnaire": ".questionnaire:questionnaire_command", "serve": ".serve:serve_command"}


if __name__ == "__main__":  # pragma: no cover
    main()
