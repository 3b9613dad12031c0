"""How a command ends: its exit statuses, a one-line failure, and the signal handling of worker processes.

Exit status: 0 done (whatever the decisions); 1 a check or a test found problems; 2 bad input (a
request, a case file, a query), named on one line; 3 the knowledge base could not be loaded; 130
interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

import click

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2
EXIT_BAD_KB = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


def fail(message: str, status: int = EXIT_BAD_INPUT) -> NoReturn:
    """One line on stderr, then exit with `status`."""
    click.echo(f"lumakras: {message}", err=True)
    sys.exit(status)


def quiet_worker(parent: int | None = None) -> None:
    """A worker process (decide's and diff's pools, impact's old kb) leaves Ctrl-C to its parent, which stops
    it, and dies at once on SIGTERM (Pool.terminate): no worker prints a traceback. Nor does one outlive its
    parent, however the parent ends (a closed pipe, SIGKILL): on Linux the kernel sends it SIGTERM when the
    parent dies; a worker whose parent `parent` is already gone ends at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    if parent is not None and os.getppid() != parent:
        os._exit(0)


def _die_with_parent() -> None:
    """prctl(PR_SET_PDEATHSIG, SIGTERM), where the system has it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
