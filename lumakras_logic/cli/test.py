"""`lumakras test`: the command; what it does is lumakras_logic/authoring/runner.py."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from ..authoring.runner import Report, coverage, render_coverage, run_cases, write_json, write_text
from ..core.exits import EXIT_BAD_INPUT, EXIT_PROBLEMS
from .common import jobs_option, json_option, kb_option, known_payers, payer_option, progress, session, today_option


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--coverage", "show_coverage", is_flag=True,
              help="Also show which statuses of each criterion the cases drive, and the gaps.")
@payer_option("With --coverage: only this payer's criteria (repeatable; default: every payer of the kb).",
              multiple=True, dest="payers")
@click.option("-v", "--verbose", is_flag=True, help="List every case, not only the failures.")
@today_option()
@json_option("Print the results (and coverage) as JSON.")
@jobs_option("Processes to run the cases on, in chunks of 16 (default: every core); the output is the same "
             "on any number.")
@kb_option
def test_command(paths: tuple[Path, ...], show_coverage: bool, payers: tuple[str, ...], verbose: bool,
                 today: dt.datetime | None, as_json: bool, jobs: int) -> None:
    """Run policy test cases: YAML files of a request and its expected answer per payer.

    PATHS are case files or folders of them (default: tests/cases). Each case passes or fails with the
    differences; counts come at the end. Exit status 0 all passed, 1 a case failed, 2 a case file is
    malformed (named with the key at fault), 3 the kb cannot be loaded. The case format is in
    docs/authoring.md.

    \b
    Examples:
      lumakras test tests/cases
      lumakras test tests/cases/centene-I.A.yaml -v
      lumakras test --coverage
      lumakras test tests/cases --jobs 2
    """
    decider = session().decider()
    known_payers(decider, payers, allow_all=False)
    if today is not None:
        decider.today = today.date()
    targets = list(paths) or [Path("tests/cases")]
    missing = [p for p in targets if not p.exists()]
    for p in missing:
        click.echo(f"lumakras: {p}: no such case file or folder", err=True)
    report = Report()
    results = progress(run_cases(decider, [p for p in targets if p.exists()], report, Path.cwd(), jobs), "cases")

    def tail() -> dict[str, Any]:  # what only the end of the run knows
        rows = coverage(decider, report.reached, list(payers) or None) if show_coverage else []
        return {"malformed": report.malformed, **({"coverage": rows} if show_coverage else {})}

    if as_json:
        write_json(results, tail)
    else:
        write_text(results, verbose)
        if show_coverage:
            click.echo("")
            click.echo(render_coverage(tail()["coverage"]))
        total = report.passed + report.failed
        click.echo(f"{total} cases in {report.files} files: {report.passed} passed, "
                   f"{report.failed} failed" + (f", {len(report.malformed)} files malformed"
                                                if report.malformed else ""))
    if report.malformed or missing:
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(EXIT_PROBLEMS if report.failed else 0)

