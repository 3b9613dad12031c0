"""`lumakras questionnaire`: a payer's policy as a FHIR R4 Questionnaire (docs/fhir.md)."""

from __future__ import annotations

import datetime as dt

import click

from ..core.stream import dumps
from .common import kb_option, known_payers, payer_option, session


@click.command("questionnaire")
@payer_option("A payer of the kb (centene, cigna, ...).")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The Questionnaire's date (default: today).")
@kb_option
def questionnaire_command(payer: str | None, day: dt.datetime | None) -> None:
    """Print the FHIR R4 Questionnaire of a payer's policy, made from the kb: one item per request field
    its criteria read (linkId: the field's path, as docs/requests.md writes it), grouped by section, each
    with the policy's words and citation as help, and enableWhen where the kb says a field matters only
    after another's answer (asked_when facts).

    An unanswered question is not documented, never a no: the form says so.

    \b
    Examples:
      lumakras questionnaire --payer centene > centene-questionnaire.json
      lumakras questionnaire --payer cigna --date 2026-06-01
    """
    from ..core.fhir.questionnaire import questionnaire

    if payer is None:
        raise click.UsageError("--payer is required (a payer of the kb: centene, cigna, ...)")
    decider = session().decider()
    known_payers(decider, [payer], allow_all=False)
    today = day.date() if day else dt.date.today()
    click.echo(dumps(questionnaire(decider.kb, payer, today)))
