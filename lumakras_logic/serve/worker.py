"""One engine on one thread, per worker process.

pyDatalog keeps its state per thread: a kb loaded on one thread answers nothing on another (measured:
../shared/notes/pydatalog-0.22.4.md). The ASGI server runs handlers on its event loop and sync work on a
pool of threads, so the kb is loaded on a thread of its own and every question to it is put to that
thread, one at a time, while the event loop goes on accepting connections. A worker process serves one
request at a time at most; the service scales by processes (`lumakras serve --workers N`), each loading
the kb once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..core.api import Decider
from ..core.inputs import Limits, set_limits

T = TypeVar("T")


class EngineThread:
    """A Decider living on its own thread; `run` puts a call to it and awaits the result."""

    def __init__(self, kb_dirs: list[Path] | None, limits: Limits, today: dt.date | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lumakras-engine")
        set_limits(limits)  # the process's input limits (the CLI's --max-*), read by every parse
        self.decider: Decider = self._pool.submit(Decider, kb_dirs, today).result()  # loaded on the engine's thread

    async def run(self, call: Callable[..., T], *args: object) -> T:
        """call(*args) on the engine's thread; the event loop is free meanwhile."""
        return await asyncio.wrap_future(self._pool.submit(call, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
