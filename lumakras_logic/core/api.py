"""The library entry point: load the kb once, then answer any number of requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from .answer import Answer
from .engine import BATCH, Derivation, Engine
from .explain import Explainer
from .kb import KnowledgeBase, load_kb
from .request import Request, RequestError, load_request, parse_document


@dataclass
class Outcome:
    """One file's result: its answers (one per payer), or the error that stopped it (a file with several
    problems: the first, with every one in `error.problems`). Under --payer all the error may be one payer's
    while the others answered: `error_payer` names it, so that a report can say whose it is (decide --format
    csv); None when the error is the file's."""

    source: str
    answers: list[Answer]
    error: RequestError | None = None
    request: str | None = None  # the request's id, when the file could be read
    error_payer: str | None = None  # the payer whose policy could not read the request


Payers = str | list[str] | None  # a payer, 'all', the request's own (None), or several of the kb's


class Decider:
    """A loaded knowledge base with its engine and explainer."""

    def __init__(self, kb_dirs: list[Path] | None = None, today: dt.date | None = None,
                 kb: KnowledgeBase | None = None) -> None:
        """Load the kb of `kb_dirs` (default: the shipped one), or take an already loaded `kb` (check.py
        lints a kb it loaded itself, problems and all)."""
        self.kb: KnowledgeBase = kb if kb is not None else load_kb(kb_dirs)
        self.engine = Engine(self.kb)
        self.explainer = Explainer(self.kb)
        self.today = today

    def payers_for(self, request: Request, payer: str | None) -> list[str]:
        """--payer overrides the request's own payer; 'all' is every payer of the kb."""
        if payer == "all":
            return list(self.kb.payers())
        chosen = payer or request.payer
        if not chosen:
            raise RequestError(request.source, "payer", "not given: name one in the request or with --payer")
        return [chosen]

    def parse(self, doc: Any, source: str) -> Request:
        return parse_document(doc, source, self.kb.payers(), self.today, self.kb)

    def derive(self, request: Request, payer: str | None) -> dict[str, Derivation]:
        return self.engine.decide_many(request, self.payers_for(request, payer))

    def answer(self, request: Request, payer: str | None) -> list[Answer]:
        """The typed answers (core/answer.py; `to_json()` each for decide --json's JSON), one per payer."""
        return [self.explainer.answer(d) for d in self.derive(request, payer).values()]

    def answer_many(self, requests: Iterable[Request], payer: str | None) -> Iterator[list[Answer]]:
        """Each request's answers (one per payer), in order, decided in the engine's batches: the way to
        answer many requests in process."""
        items = iter(requests)
        while group := list(islice(items, BATCH)):
            derived = self.engine.decide_batch([(r, self.payers_for(r, payer)) for r in group])
            for each in derived:
                yield [self.explainer.answer(d) for d in each.values()]

    def answer_files(self, paths: Iterable[Path], payer: str | None) -> Iterator[Outcome]:
        """Answer each file in turn, in batches of the engine's size; a bad file yields its error and the
        others go on. Under --payer all, a payer whose policy cannot read the request (Centene without a
        line of business) yields its error and the other payers still answer."""
        return self.answer_read((str(path), self._loader(path), payer) for path in paths)

    def answer_document(self, doc: Any, source: str, payer: Payers) -> Outcome:
        """Answer one parsed document (a request document or FHIR) as answer_files answers a file."""
        return next(self.answer_read([(source, lambda: self.parse(doc, source), payer)]))

    def _loader(self, path: Path) -> Callable[[], Request]:
        return lambda: load_request(path, self.kb.payers(), self.today, self.kb)

    def answer_read(self, items: Iterable[tuple[str, Callable[[], Request], Payers]]) -> Iterator[Outcome]:
        """Each (source, read, payer) in turn, decided in the engine's batches: read() gives the request or
        raises RequestError; `payer` is a payer, 'all', None (the request's own) or a list of the kb's
        payers, answered in its order. The local service decides the requests waiting for its engine this
        way, together (lumakras_logic/serve/worker.py)."""
        entries = iter(items)
        while group := list(islice(entries, BATCH)):
            read: list[tuple[str, Request | None, list[str], RequestError | None, str | None]] = []
            for source, load, payer in group:
                try:
                    request = load()
                    payers, errors = [], []
                    asked = payer if isinstance(payer, list) else self.payers_for(request, payer)
                    for p in asked:
                        try:
                            self.engine.check(request, p)
                            payers.append(p)
                        except RequestError as exc:
                            errors.append((p, exc))
                    failed_payer, error = errors[0] if errors else (None, None)
                    read.append((source, request, payers, error, failed_payer))
                except RequestError as exc:
                    read.append((source, None, [], exc, None))
            decided = iter(self.engine.decide_batch([(r, p) for _s, r, p, _e, _p in read if r is not None and p]))
            for source, request, payers, error, error_payer in read:
                derived = next(decided) if request is not None and payers else {}
                yield Outcome(source, [self.explainer.answer(d) for d in derived.values()], error,
                              request.id if request is not None else None, error_payer)
