"""One engine on one thread, per worker process, deciding the requests that wait for it together.

pyDatalog keeps its state per thread: a kb loaded on one thread answers nothing on another (measured:
../shared/notes/pydatalog-0.22.4.md). The ASGI server runs handlers on its event loop, so the kb is loaded
on a thread of its own and every question to it is put to that thread, while the event loop goes on
accepting connections and reading bodies. When the engine turns to its queue, it takes every decision
waiting there (up to the engine's batch) and decides them in one batch, as `lumakras decide` decides a
folder: one Datalog query for all of them instead of one each (bench/serve.py measures the gain). The
service scales by processes (`lumakras serve --workers N`), each loading the kb once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..core.api import Decider, Payers
from ..core.engine import BATCH
from ..core.inputs import Limits
from ..core.request import RequestError, read_body
from .negotiate import Problem
from .runs import Run, problems_of

T = TypeVar("T")


@dataclass
class _Decision:
    """A request to decide: a body to read (`body`) or a document already made (`doc`)."""

    source: str
    payer: Payers
    body: bytes | None = None
    is_json: bool | None = None
    doc: Any = None


class EngineThread:
    """A Decider living on its own thread. `decide` puts a request to it; `run` any other call."""

    def __init__(self, kb_dirs: list[Path] | None, limits: Limits, today: dt.date | None = None) -> None:
        self.limits = limits  # every body is read within them (the CLI's --max-*)
        self._jobs: queue.SimpleQueue[tuple[Any, Future[Any]] | None] = queue.SimpleQueue()
        loaded: Future[Decider] = Future()
        self._thread = threading.Thread(target=self._serve, args=(kb_dirs, today, loaded), name="lumakras-engine",
                                         daemon=True)
        self._thread.start()
        self.decider: Decider = loaded.result()  # the kb loads on the engine's thread; its error is raised here

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """call(*args) on the engine's thread; the event loop is free meanwhile."""
        return await self._put((call, args))

    async def decide(self, source: str, payer: Payers, *, body: bytes | None = None, is_json: bool | None = None,
                     doc: Any = None) -> Run:
        """A request's answers, decided with the others waiting: `body` read as a file is (a Problem 400
        when it cannot be), or `doc` already made (the questionnaire form's)."""
        return await self._put(_Decision(source, payer, body, is_json, doc))

    async def _put(self, job: Any) -> Any:
        done: Future[Any] = Future()
        self._jobs.put((job, done))
        return await asyncio.wrap_future(done)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)

    # the engine's thread ------------------------------------------------------------------------------
    def _serve(self, kb_dirs: list[Path] | None, today: dt.date | None, loaded: Future[Decider]) -> None:
        try:
            decider = Decider(kb_dirs, today)
        except BaseException as exc:  # noqa: BLE001 (a kb that cannot load: raised in __init__'s thread)
            loaded.set_exception(exc)
            return
        loaded.set_result(decider)
        while True:
            first = self._jobs.get()
            if first is None:
                return
            waiting = [first]
            while len(waiting) < BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)  # stop after this batch
                    break
                waiting.append(job)
            decisions = [(j, f) for j, f in waiting if isinstance(j, _Decision)]
            for (call, args), done in ((j, f) for j, f in waiting if not isinstance(j, _Decision)):
                _settle(done, call, *args)
            if decisions:
                self._decide_together(decider, decisions)

    def _decide_together(self, decider: Decider, decisions: list[tuple[_Decision, Future[Any]]]) -> None:
        items, futures = [], []
        for d, done in decisions:
            if not done.set_running_or_notify_cancel():
                continue
            doc = d.doc
            if d.body is not None:
                try:
                    doc = read_body(d.body, d.source, d.is_json, self.limits)
                except RequestError as exc:
                    done.set_exception(Problem(400, str(exc), problems_of(exc)))
                    continue
            items.append((d.source, _parser(decider, doc, d.source), d.payer))
            futures.append(done)
        try:
            for done, outcome in zip(futures, decider.answer_read(items), strict=True):
                done.set_result(Run(outcome.answers, outcome.error, problems_of(outcome.error)))
        except BaseException as exc:  # noqa: BLE001 (a kb that fails on a request: every waiting one is told)
            for done in futures:
                if not done.done():
                    done.set_exception(exc)


def _parser(decider: Decider, doc: Any, source: str) -> Callable[[], Any]:
    return lambda: decider.parse(doc, source)


def _settle(done: Future[Any], call: Callable[..., Any], *args: Any) -> None:
    if not done.set_running_or_notify_cancel():
        return
    try:
        done.set_result(call(*args))
    except BaseException as exc:  # noqa: BLE001 (handed to the awaiting handler, which answers for it)
        done.set_exception(exc)
