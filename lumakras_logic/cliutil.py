"""What every `lumakras` subcommand shares: the --kb option, loading the kb, and the exit statuses.

Exit status: 0 done (whatever the decisions); 1 a check or a test found problems; 2 bad input (a
request, a case file, a query), named on one line; 3 the knowledge base could not be loaded.
"""

from __future__ import annotations

import signal
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
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM

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


def quiet_worker() -> None:
    """A worker process (diff's pools) leaves Ctrl-C to its parent, which stops the pool, and dies at once on
    SIGTERM (Pool.terminate): no worker prints a traceback or outlives its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


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
