"""Batches on every core: a pure function mapped over chunks of work, in forked processes, results in input
order.

pyDatalog holds one kb per process, so the workers are forked after the kb is loaded and inherit it; each
chunk is answered by a worker on its own (nothing is shared but what the fork copied), and the results come
back in the order of the chunks, so the output is the same on any number of processes. The step is a pure
function of (its chunk, the loaded kb): the same map could run on Dask or Ray workers that each load the
kb once (README, "Performance").
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from multiprocessing.pool import AsyncResult
from typing import TypeVar

from .exits import quiet_worker

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 16  # items per task: large enough to pay for the pickling, small enough to keep both cores busy
AHEAD = 2  # chunks in flight per process: enough to keep each busy, few enough to keep memory flat

_step: Callable[[list], list] | None = None  # the step the forked workers run (set before the fork)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _run(chunk: list) -> list:
    assert _step is not None
    return _step(chunk)


def map_chunks(step: Callable[[list[T]], list[R]], items: Iterable[T], jobs: int) -> Iterator[R]:
    """step(chunk) for each chunk of `items`, on `jobs` forked processes, flattened in input order; in this
    process when one job is asked, or the items make one chunk, or the system cannot fork. An exception a
    step raises is raised here, and the workers are stopped.

    `items` may be a generator: it is consumed in this process and thread (so it may read standard input,
    or print), at most a few chunks ahead of the results given, so memory stays flat with its length and
    each result is given as soon as it and those before it are done."""
    global _step
    pieces = chunks(items)
    head = list(islice(pieces, 2))  # one chunk is not worth a pool
    if jobs <= 1 or len(head) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for chunk in chain(head, pieces):
            yield from step(chunk)
        return
    _step = step
    # What the workers inherit (the kb above all) is moved out of the collector's reach before the fork, so
    # that no collection in a worker writes to those pages and copies them: the workers keep sharing them
    # with this process (bench/heavy.py, 10,000 requests on two workers: 126 -> 109 MB peak).
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(jobs, initializer=quiet_worker, initargs=(os.getpid(),)) as pool:
            pending: deque[AsyncResult[list]] = deque()
            for chunk in chain(head, pieces):
                pending.append(pool.apply_async(_run, (chunk,)))
                while len(pending) > AHEAD * jobs or (pending and pending[0].ready()):
                    yield from pending.popleft().get()
            while pending:
                yield from pending.popleft().get()
    finally:
        _step = None
        gc.unfreeze()
