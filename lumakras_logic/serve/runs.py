"""What a worker's engine thread does for one request: read it, decide it, keep what went wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.answer import Answer
from ..core.api import Decider
from ..core.request import RequestError, read_body
from .negotiate import Problem


@dataclass
class Run:
    """One request's answers (one per payer), and the problems that stopped it or one payer of it (the
    CLI prints them on stderr and answers the rest)."""

    answers: list[Answer]
    error: RequestError | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        """422 when nothing was answered: the document was read, and a field of it refused."""
        return 422 if self.error is not None and not self.answers else 200


def decide_bytes(decider: Decider, body: bytes, source: str, is_json: bool | None,
                 payer: str | list[str] | None) -> Run:
    """A body read as a request file is (400 when it cannot be), then decided (on the engine's thread)."""
    try:
        doc = read_body(body, source, is_json)
    except RequestError as exc:
        raise Problem(400, str(exc), [str(p) for p in _problems(exc)]) from None
    return decide_document(decider, doc, source, payer)


def decide_document(decider: Decider, doc: Any, source: str, payer: str | list[str] | None) -> Run:
    """A parsed document decided as `lumakras decide` decides a file."""
    outcome = decider.answer_document(doc, source, payer)
    return Run(outcome.answers, outcome.error, [str(p) for p in _problems(outcome.error)] if outcome.error else [])


def _problems(exc: RequestError) -> list[Any]:
    """Every problem of a file, as the CLI prints them (one line each)."""
    return list(getattr(exc, "problems", None) or [exc])
