"""`lumakras convert`: the command; what it does is lumakras_logic/core/fhir/convert.py."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..core.exits import EXIT_BAD_INPUT
from ..core.request import RequestError, read_document
from .common import kb_option, session


@click.command("convert")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@kb_option
def convert_command(inputs: tuple[Path, ...]) -> None:
    """Print the request document a FHIR R4 Bundle or QuestionnaireResponse stands for, as YAML.

    Each field carries a comment naming the resource and code it came from; the resources read and left
    out (and why) follow at the end. The output is a request `lumakras decide` reads as it reads the
    bundle. A file that cannot be read is one line naming it and the resource path (exit 2); the others
    are still converted. Several files are written as one YAML stream (documents separated by ---).

    \b
    Examples:
      lumakras convert queries/fhir/both-approve-nsclc-uscore-mcode.json
      lumakras convert queries/fhir/*.json --kb kb
    """
    from ..core.fhir.bundle import convert, is_fhir, to_request
    from ..core.fhir.codes import codebook
    from ..core.fhir.convert import to_yaml

    decider = session().decider()
    book = codebook(decider.kb)
    failed = False
    first = True
    for path in inputs:
        try:
            doc = read_document(path)
            if not is_fhir(doc):
                raise RequestError(str(path), "resourceType", "not FHIR: convert reads a FHIR R4 Bundle or a "
                                   "QuestionnaireResponse (a request document needs no converting)")
            converted = convert(doc, str(path), book)
            to_request(converted, str(path), decider.kb.payers(), decider.today)  # what decide would refuse
            text = to_yaml(converted, str(path))
        except RequestError as exc:
            for problem in exc.problems:
                click.echo(f"lumakras: {problem}", err=True)
            failed = True
            continue
        click.echo(("" if first else "---\n") + text, nl=False)
        first = False
    sys.exit(EXIT_BAD_INPUT if failed else 0)
