"""`lumakras impact`: the command; what it does is lumakras_logic/analysis/impact.py."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from ..analysis.impact import (
    OldSide,
    Pairs,
    SideFailed,
    compare_all,
    file_changes,
    load_side,
    precheck,
    provenance,
    read_inputs,
    run,
)
from ..analysis.impact_render import REPORTS
from ..core.exits import EXIT_BAD_INPUT, EXIT_BAD_KB, EXIT_OK, EXIT_PROBLEMS, fail
from .common import format_option, jobs_option, output_format, payer_option, progress, session, today_option


@click.command("impact")
@click.argument("cases", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--old", "old_dirs", multiple=True, required=True, type=click.Path(path_type=Path),
              metavar="KB_DIR", help="The kb before the change: a folder or .dl file (repeatable, like --kb).")
@click.option("--new", "new_dirs", multiple=True, required=True, type=click.Path(path_type=Path),
              metavar="KB_DIR", help="The kb after the change (repeatable, like --kb).")
@payer_option("A payer of either kb, or all (default: the request's own payer; a case's expect payers; "
              "every payer for a request that names none).")
@format_option("text", "text for people, markdown for a pull request, json for programs.")
@click.option("-v", "--verbose", is_flag=True, help="Also list the unchanged cases and the skipped files.")
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when any case changed (for CI).")
@today_option()
@jobs_option("Pairs of processes (one per kb) to compare on (default: one per core; 2 pairs are faster than "
             "1 on 2 cores: README, Performance). On 1 pair each change is written before the next case is "
             "read; on more, a chunk of 16 cases at a time. The output is the same on any number.")
def impact_command(cases: tuple[Path, ...], old_dirs: tuple[Path, ...], new_dirs: tuple[Path, ...],
                   payer: str | None, fmt: str, as_json: bool, verbose: bool, fail_on_change: bool,
                   today: dt.datetime | None, jobs: int) -> None:
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
      lumakras impact --old /tmp/before/kb --new kb tests/cases --jobs 2
    """
    day = today.date() if today is not None else None
    fmt = output_format(fmt, as_json)
    if session().kb_dirs:
        fail("--kb: impact reads two kbs, given with --old and --new")
    precheck(old_dirs, "old")
    precheck(new_dirs, "new")
    old = load_side(old_dirs, day, "old")
    # forked now, each child keeps the old kb loaded: one beside this process, or one per pair of --jobs
    old_side = OldSide(old, old_dirs, day, payer) if jobs == 1 else Pairs(old, old_dirs, day, payer, jobs)
    try:
        new = load_side(new_dirs, day, "new")
        known = set(old.kb.payers()) | set(new.kb.payers())
        if payer not in (None, "all") and payer not in known:
            fail(f"--payer: unknown payer {payer!r}; one of {', '.join([*sorted(known), 'all'])}")
        report = REPORTS[fmt](lambda text: click.echo(text, nl=False),
                                                      provenance(old, old_dirs), provenance(new, new_dirs),
                                                      file_changes(old, new, old_dirs, new_dirs), verbose)
        compared = compare_all(old_side, new, read_inputs(list(cases), Path.cwd(), day, new.kb), payer, jobs)
        tally = run(report, progress(compared, "cases"))
    except SideFailed as exc:
        fail(str(exc), EXIT_BAD_KB)
    finally:
        old_side.close()
    if tally.errors:
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(EXIT_PROBLEMS if fail_on_change and tally.changed else EXIT_OK)

