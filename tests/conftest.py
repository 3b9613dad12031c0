"""pytest: one shared knowledge base, and the policy-level YAML cases of tests/cases/ collected as tests."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lumakras_logic.authoring.cases import Case, CaseError, load_cases, run_case
from lumakras_logic.cli import main
from lumakras_logic.core.api import Decider

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"
# Requests without a date are decided as of this day, so that cases never depend on the calendar.
TODAY = dt.date(2026, 6, 1)

_decider: Decider | None = None


def shared_decider() -> Decider:
    """The project's kb, loaded once for the whole session (pyDatalog holds one kb per thread)."""
    global _decider
    if _decider is None:
        _decider = Decider(today=TODAY)
    _decider.kb.activate()
    return _decider


@pytest.fixture
def decider() -> Decider:
    return shared_decider()


@pytest.fixture(autouse=True)
def _restore_shared_kb():
    """A CLI run or a `check` loads its own kb, which replaces pyDatalog's (one kb per thread); give the
    shared one back after each test. Costs nothing when the shared kb is still the active one."""
    yield
    if _decider is not None:
        _decider.kb.activate()


def invoke(*args: str | Path) -> Result:
    """Run `lumakras ARGS` in-process. A Python exception other than SystemExit is raised again, so that a
    crash shows its traceback instead of passing as an exit status."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and CASES in file_path.parents:
        return CaseFile.from_parent(parent, path=file_path)
    return None


class CaseFile(pytest.File):
    def collect(self):  # type: ignore[override]
        try:
            cases = load_cases(self.path, ROOT)
        except CaseError as exc:
            raise self.CollectError(str(exc)) from None
        for case in cases:
            yield CaseItem.from_parent(self, name=case.name, case=case)


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        problems = run_case(shared_decider(), self.case)
        if problems:
            raise CaseFailure(problems)

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, CaseFailure):
            return f"{self.case.source}: {self.case.name}\n  " + "\n  ".join(excinfo.value.problems)
        return super().repr_failure(excinfo)

    def reportinfo(self):  # type: ignore[override]
        return self.path, 0, f"case: {self.name}"


class CaseFailure(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def run_with_terminal_stderr(args: list[str], out: Path, timeout: float) -> tuple[subprocess.CompletedProcess, bytes]:
    """Run `lumakras ARGS` in a new process with stdout to the file `out` and stderr to a pseudo-terminal (as
    when a person watches a command whose output goes to a file): its exit and what the terminal showed."""
    leader, follower = os.openpty()
    seen: list[bytes] = []

    def drain() -> None:  # read the terminal as the command writes it, so that it never blocks on it
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the command has ended and closed its end
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with out.open("w") as sink:
        done = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", *args], stdout=sink, stderr=follower,
                              cwd=ROOT, timeout=timeout)
    os.close(follower)
    reader.join(timeout=10)
    os.close(leader)
    return done, b"".join(seen)


def form_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """A request document's values as the questionnaire form's fields (linkId: the field's path)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = v
        elif key not in ("id", "date", "payer"):
            out[key] = value
    fields: dict[str, Any] = {}
    for path, v in out.items():
        if isinstance(v, bool):
            fields[path] = "true" if v else "false"
        elif isinstance(v, list):  # an empty list documents none: the form's answer 'none'
            fields[path] = ([str(x) for x in v] or ["none"]) if path == "diagnosis.disease_state" \
                else "\n".join(map(str, v)) or "none"
        else:
            fields[path] = str(v)
    return fields


def modules_imported_by(args: list[str]) -> list[str]:
    """The modules a `lumakras ARGS` run in a new process has imported when it is done: what a command
    pays for at start-up."""
    code = ("import sys\nfrom lumakras_logic.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "print('\\n'.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.split("\n")
