"""One request's result in the service: its answers, and what went wrong, as the CLI would print it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.answer import Answer
from ..core.request import RequestError


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


def problems_of(exc: RequestError | None) -> list[str]:
    """Every problem of a file, one line each, as the CLI prints them (none for no error)."""
    if exc is None:
        return []
    found: list[Any] = list(getattr(exc, "problems", None) or [exc])
    return [str(p) for p in found]
