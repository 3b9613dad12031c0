"""What a `lumakras serve` worker is started with: passed to each worker process in the environment (the
ASGI server starts its workers by an import string, with no arguments)."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.inputs import DEFAULT, Limits

ENV = "LUMAKRAS_SERVE_CONFIG"


@dataclass(frozen=True)
class ServeConfig:
    """The kb, the input limits, the day requests without a date are decided as of, the body limit, and
    the folder of example requests the page offers (none: the page offers none)."""

    kb_dirs: tuple[str, ...] = ()
    limits: Limits = field(default_factory=lambda: DEFAULT)
    today: str | None = None  # ISO date
    max_body: int = DEFAULT.max_bytes
    examples: str | None = None

    @property
    def kb_paths(self) -> list[Path] | None:
        return [Path(d) for d in self.kb_dirs] or None

    @property
    def today_date(self) -> dt.date | None:
        return dt.date.fromisoformat(self.today) if self.today else None

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeConfig:
        raw = os.environ.get(ENV)
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(kb_dirs=tuple(data["kb_dirs"]), limits=Limits(**data["limits"]), today=data["today"],
                   max_body=data["max_body"], examples=data["examples"])
