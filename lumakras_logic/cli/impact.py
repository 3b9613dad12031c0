"""`lumakras impact`: the command; what it does is lumakras_logic/analysis/impact.py."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from ..analysis.impact import OldSide, decide_pairs, file_changes, load_side, precheck, provenance, read_inputs, run
from ..analysis.impact_render import REPORTS
from ..core.exits import EXIT_BAD_INPUT, EXIT_OK, EXIT_PROBLEMS, fail
from ..core.request import token_key
from .common import progress


@click.command("impact")
@click.argument("cases", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--old", "old_dirs", multiple=True, required=True, type=click.Path(path_type=Path),
              metavar="KB_DIR", help="The kb before the change: a folder or .dl file (repeatable, like --kb).")
@click.option("--new", "new_dirs", multiple=True, required=True, type=click.Path(path_type=Path),
              metavar="KB_DIR", help="The kb after the change (repeatable, like --kb).")
@click.option("--payer", type=str, default=None,
              help="A payer of either kb, or all (default: the request's own payer; a case's expect payers; "
                   "every payer for a request that names none).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="text for people, markdown for a pull request, json for programs.")
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("-v", "--verbose", is_flag=True, help="Also list the unchanged cases and the skipped files.")
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when any case changed (for CI).")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Decide requests without a date as of this day (default: today).")
def impact_command(cases: tuple[Path, ...], old_dirs: tuple[Path, ...], new_dirs: tuple[Path, ...],
                   payer: str | None, fmt: str, as_json: bool, verbose: bool, fail_on_change: bool,
                   today: dt.datetime | None) -> None:
    """Show what a kb change does: decide CASES under the --old and the --new kb, and list every case
    whose decision, pathway, duration, referral or reasons changed, with the before and after.

    CASES are requests (YAML or JSON), case files (a `cases:` list, as in tests/cases) and folders of
    them, searched recursively. A changed criterion is shown with its status and reasons before and
    after; unchanged cases are only counted (-v lists them). The counts, the kb files that changed and
    each payer's kb digest come at the end. A payer only one kb has is reported as a change.

    Exit status 0 the run completed (changes or not), 1 with --fail-on-change when a case changed, 2 a
    request or case file could not be read (one line naming the file and field; the others are still
    compared), 3 a kb cannot be loaded.

    \b
    Examples:
      git worktree add /tmp/before HEAD
      lumakras impact --old /tmp/before/kb --new kb queries/ tests/cases
      lumakras impact --old kb --new kb --new my-payer/ --payer all queries/
      lumakras impact --old /tmp/before/kb --new kb tests/cases --format markdown --fail-on-change
    """
    day = today.date() if today is not None else None
    payer = token_key(payer) if payer else None  # Centene is centene
    precheck(old_dirs, "old")
    precheck(new_dirs, "new")
    old = load_side(old_dirs, day, "old")
    old_side = OldSide(old, old_dirs, day, payer)  # forked now: the child keeps the old kb loaded
    try:
        new = load_side(new_dirs, day, "new")
        known = set(old.kb.payers()) | set(new.kb.payers())
        if payer not in (None, "all") and payer not in known:
            fail(f"--payer: unknown payer {payer!r}; one of {', '.join([*sorted(known), 'all'])}")
        report = REPORTS["json" if as_json else fmt](lambda text: click.echo(text, nl=False),
                                                      provenance(old, old_dirs), provenance(new, new_dirs),
                                                      file_changes(old, new, old_dirs, new_dirs), verbose)
        cases_read = progress(read_inputs(list(cases), Path.cwd(), day), "cases")
        tally = run(report, decide_pairs(old_side, new, cases_read, payer))
    finally:
        old_side.close()
    if tally.errors:
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(EXIT_PROBLEMS if fail_on_change and tally.changed else EXIT_OK)

