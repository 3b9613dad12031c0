"""What every `lumakras` subcommand shares: the --kb option, loading the kb, and the exit statuses.

Exit status: 0 done (whatever the decisions); 1 a check or a test found problems; 2 bad input (a
request, a case file, a query), named on one line; 3 the knowledge base could not be loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from .api import Decider
from .kb import KbError

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2
EXIT_BAD_KB = 3

kb_option = click.option(
    "--kb", "kb_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Knowledge-base folder or .dl file (repeatable; default: the project's kb/). "
         "To add a payer beside the shipped kb, give both: --kb kb --kb my-payer/.",
)


def fail(message: str, status: int = EXIT_BAD_INPUT) -> NoReturn:
    """One line on stderr, then exit with `status`."""
    click.echo(f"lumakras: {message}", err=True)
    sys.exit(status)


def load_decider(kb_dirs: tuple[Path, ...] | list[Path]) -> Decider:
    """The kb of --kb (or the shipped one) with its engine; a kb that cannot load exits 3."""
    try:
        return Decider(list(kb_dirs) or None)
    except KbError as exc:
        fail(f"knowledge base: {exc}", EXIT_BAD_KB)
