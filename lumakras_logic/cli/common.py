"""What every `lumakras` subcommand shares: the --kb option, loading the kb, and the group that runs the
commands as a Unix tool (the exit statuses are in exits.py)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import click

from ..core.api import Decider
from ..core.exits import EXIT_BAD_KB, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, fail
from ..core.kb import KbError

T = TypeVar("T")

kb_option = click.option(
    "--kb", "kb_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Knowledge-base folder or .dl file (repeatable; default: the project's kb/). "
         "To add a payer beside the shipped kb, give both: --kb kb --kb my-payer/.",
)


def load_decider(kb_dirs: tuple[Path, ...] | list[Path]) -> Decider:
    """The kb of --kb (or the shipped one) with its engine; a kb that cannot load exits 3."""
    try:
        return Decider(list(kb_dirs) or None)
    except KbError as exc:
        fail(f"knowledge base: {exc}", EXIT_BAD_KB)


def shows_progress() -> bool:
    """Progress goes to stderr when a person watches it there and the output goes elsewhere (a file, a
    pipe): a bar redrawn between answers printed on the same terminal would garble them."""
    return sys.stderr.isatty() and not sys.stdout.isatty()


def progress(items: Iterable[T], label: str, length: int | None = None) -> Iterator[T]:
    """The items, with a progress bar on stderr while they are consumed (nothing when shows_progress is
    false): so many of `length`, or a running count when the length is not known in advance."""
    if not shows_progress():
        yield from items
        return
    with click.progressbar(items, length=length, label=label, file=sys.stderr, show_pos=True,
                           show_eta=length is not None) as bar:
        yield from bar


class UnixGroup(click.Group):
    """The command group, run as a Unix tool: Ctrl-C exits 130 and SIGTERM 143, with no traceback, after the
    running command's pools are stopped (they stop when the exception leaves their `with`); a closed pipe
    ends the process quietly (SIGPIPE's default), so `lumakras decide ... | head` is no error."""

    def main(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        previous = {sig: signal.getsignal(sig) for sig in (getattr(signal, "SIGPIPE", None), signal.SIGTERM) if sig}
        if hasattr(signal, "SIGPIPE"):
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, _terminated)
        kwargs.pop("standalone_mode", None)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except (click.exceptions.Abort, KeyboardInterrupt):
            sys.stderr.write("\nlumakras: interrupted\n")
            sys.exit(EXIT_INTERRUPTED)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        finally:  # as they were (a test runner calling main in its own process)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _terminated(_signum: int, _frame: object) -> None:
    raise SystemExit(EXIT_TERMINATED)
