"""`lumakras compare`: the command; what it does is lumakras_logic/analysis/compare.py."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from ..analysis.compare import Comparer, choose_payers, compare_files
from ..analysis.compare_html import page, section
from ..analysis.compare_render import render_markdown, render_markdown_title, render_text, to_dict
from ..core.exits import EXIT_BAD_INPUT, EXIT_BAD_KB
from ..core.html import Html
from ..core.kb import KbError
from ..core.request import RequestError
from ..core.stream import JsonArray
from .common import format_option, kb_option, output_format, payer_option, session, today_option


@click.command("compare")
@click.argument("requests", nargs=-1, required=True, type=click.Path(path_type=Path))
@payer_option("A payer to compare (repeatable, in the order of the columns; default: every payer of the "
              "kb).", multiple=True, dest="payers")
@format_option(None, "text for a terminal (default), markdown for a report, html for one self-contained "
                     "printable page (docs/comparing.md), or json (a JSON list, one object per request).",
               ("text", "markdown", "html", "json"))
@today_option()
@kb_option
def compare_command(requests: tuple[Path, ...], payers: tuple[str, ...], as_json: bool, fmt: str | None,
                    today: dt.datetime | None) -> None:
    """Compare the payers' answers to each REQUEST side by side.

    REQUESTS are request files (YAML or JSON) or folders of them. For each request: every payer's
    decision, pathway, duration and referral; then one row per concept (kb/vocab/concepts.dl) with each
    payer's criterion on it (id and words), its status and the facts it rests on. The rows where the
    payers part ways come first, each with one sentence on why; then the rows only some payers ask about;
    then those they agree on (--format html: one page for every request, the criteria of the parting rows
    unfolded, the others folded). A payer's column shows the criteria of the pathway that decided, or of the
    nearest pathway that could approve (on refer, both). A payer whose policy needs a field the request
    lacks (a line of business, say) shows its error in its column; the others are still compared.
    Exit status 0 all compared; 2 a request could not be read (named on one line; the others are
    compared); 3 the kb cannot be loaded.

    \b
    Examples:
      lumakras compare queries/cigna-deny-nsclc-kras-test-other.yaml
      lumakras compare queries/ --format markdown
      lumakras compare queries/ --format html > compare.html
      lumakras compare queries/cigna-deny-crc-immunotherapy-only.yaml --json
      lumakras compare queries/ --payer cigna --payer centene
      lumakras compare REQUEST --kb kb --kb MY_PAYER/
    """
    fmt = output_format(fmt, as_json)
    decider = session().decider()
    if today is not None:
        decider.today = today.date()
    comparer = Comparer(decider, choose_payers(decider, payers))
    stream = JsonArray(lambda text: click.echo(text, nl=False))  # --json: each comparison written as it is made
    failed = False
    sections: list[Html] = []  # --format html: the page is written whole, once every request is compared
    if fmt == "markdown":
        click.echo(render_markdown_title(comparer))
    try:
        for result in compare_files(comparer, requests):
            if isinstance(result, RequestError):
                click.echo(f"lumakras: {result}", err=True)
                failed = True
                continue
            if fmt == "json":
                stream.add(to_dict(result))
            elif fmt == "text":
                click.echo(render_text(result, comparer.payers) + "\n")
            elif fmt == "markdown":
                click.echo(render_markdown(result, comparer.payers))
            elif fmt == "html":
                sections.append(section(result, comparer.payers))
    except KbError as exc:
        click.echo(f"lumakras: knowledge base: {exc}", err=True)
        sys.exit(EXIT_BAD_KB)
    if fmt == "json":
        stream.close(empty="[]")
    elif fmt == "html":
        click.echo(page(comparer, sections), nl=False)
    sys.exit(EXIT_BAD_INPUT if failed else 0)

