"""`lumakras diff`: the command; what it does is lumakras_logic/analysis/diff_report.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from ..analysis.diff import run_diff
from ..analysis.diff_points import default_jobs
from ..analysis.diff_report import (
    Words,
    default_scenarios,
    group_regions,
    render_text,
    to_data,
    totals,
    write_witnesses,
)
from ..core.exits import EXIT_BAD_INPUT, EXIT_BAD_KB, EXIT_PROBLEMS, fail
from ..core.kb import KbError
from .common import (
    format_option,
    jobs_option,
    kb_option,
    output_format,
    payer_option,
    progress,
    session,
    today_option,
)


@click.command("diff")
@click.option("--condition", "conditions", multiple=True,
              help="Only this diagnosis (repeatable): a part's label (a condition of the kb, 'other': one no "
                   "policy names, 'not-documented'), or any condition (with +histology) a part stands for.")
@format_option("text", "Text for a terminal, markdown for a report, JSON for programs.")
@click.option("--witnesses", type=click.Path(path_type=Path), default=None,
              help="Write one witness request per alternative into this folder, each runnable with "
                   "`lumakras decide FILE --payer all`. The folder must be new or empty, unless --overwrite.")
@click.option("--overwrite", is_flag=True, help="With --witnesses: replace the files of a folder that is not empty.")
@click.option("--scenario", "scenarios", multiple=True, type=click.Path(path_type=Path, exists=True),
              help="A what-if market (a folder of .dl facts laid over the kb), repeatable; default: the "
                   "project's scenarios/ folders.")
@click.option("--no-scenarios", is_flag=True, help="Diff the market as the kb records it, and nothing else.")
@payer_option("Compare only these payers (repeatable, at least two; default: every payer of the kb).",
              multiple=True, dest="payers")
@jobs_option("Worker processes (default: up to 2, the cores used).", default=default_jobs)
@today_option("The date requests are made on (default: today).")
@click.option("--strict", is_flag=True, help="Exit 1 if a witness does not replay through the engine.")
@kb_option
def diff_command(conditions: tuple[str, ...], fmt: str, as_json: bool, witnesses: Path | None, overwrite: bool,
                 scenarios: tuple[Path, ...], no_scenarios: bool, payers: tuple[str, ...], jobs: int,
                 today: dt.datetime | None, strict: bool) -> None:
    """Where the payers' policies decide differently, over all requests.

    The request space is abstracted from the kb itself (the boundaries of its comparisons, the drug classes
    and values its criteria ask about, documented and not documented), every abstract profile is decided
    under every payer, and the regions where the decisions differ are described by the statuses of the
    payers' criteria, with their sizes and one witness request each. With the report going to a file or
    a pipe and stderr on a terminal, a progress bar on stderr counts the parts diffed, then the witnesses
    replayed.

    \b
    Examples:
      lumakras diff
      lumakras diff --condition nsclc --format markdown > nsclc-diff.md
      lumakras diff --json --witnesses diff-witnesses/
      lumakras diff --no-scenarios --condition colorectal
    """
    day = today.date() if today else dt.date.today()
    fmt = output_format(fmt, as_json)
    kb_dirs = session().kb_dirs  # diff loads its kbs itself: the recorded one and one per scenario
    if witnesses is not None:  # before the work, not after it
        if witnesses.exists() and not witnesses.is_dir():
            fail(f"--witnesses: {witnesses} is not a folder", EXIT_BAD_INPUT)
        if witnesses.is_dir() and any(witnesses.iterdir()) and not overwrite:
            fail(f"--witnesses: {witnesses} is not empty: give --overwrite to replace its files", EXIT_BAD_INPUT)
    chosen = [] if no_scenarios else (list(scenarios) or default_scenarios())
    try:
        result = run_diff(list(kb_dirs) or None, chosen, list(conditions) or None, day, jobs,
                          list(payers) or None, progress)
    except KbError as exc:
        fail(f"knowledge base: {exc}", EXIT_BAD_KB)
    except ValueError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if conditions and not result.parts:
        fail(f"--condition: no diagnosis {', '.join(conditions)!s} in the kb's abstraction "
             "(try a condition of kb/vocab/conditions.dl, 'other' or 'not-documented')", EXIT_BAD_INPUT)
    words = Words(result.kb)
    reports = group_regions(result)
    unwritten = None
    if witnesses is not None:
        kb_args = "".join(f" --kb {d}" for d in kb_dirs)
        try:
            write_witnesses(reports, words, witnesses, kb_args, result.scenario_dirs)
        except OSError as exc:  # the report is still printed: the work is not lost
            unwritten = f"--witnesses: cannot write into {witnesses}: {exc.strerror or exc} ({exc.filename})"
    if fmt == "json":
        click.echo(json.dumps(to_data(result, reports, words, day), indent=2, default=str))
    else:
        click.echo(render_text(result, reports, words, markdown=fmt == "markdown"), nl=False)
    if unwritten:
        fail(unwritten, EXIT_BAD_INPUT)
    if strict and totals(result, reports)["not_replayed"]:
        raise SystemExit(EXIT_PROBLEMS)

