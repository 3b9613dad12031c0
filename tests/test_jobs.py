"""--jobs for `test` and `impact`: the same bytes and exit status on any number of processes, results in
input order as they are made, and no worker outliving the command; the map they share (core/parallel.py);
and `diff`'s progress bar. Timing is measured in bench/, never here."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TODAY, run_with_terminal_stderr, shared_decider

from lumakras_logic.core import parallel

KB = ROOT / "kb"
CASES = ROOT / "tests" / "cases"
GOOD = ROOT / "queries" / "centene-approve-nsclc-I.A.yaml"


def lumakras(*args: str | Path, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """The command in a process of its own (its workers are forked from it, not from pytest's)."""
    return subprocess.run([sys.executable, "-m", "lumakras_logic.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout, **kwargs)


def descendants(pid: int) -> list[str]:
    found: list[str] = []
    todo = [str(pid)]
    while todo:
        children = subprocess.run(["pgrep", "-P", todo.pop()], capture_output=True, text=True).stdout.split()
        found += children
        todo += children
    return found


def alive(pids: list[str]) -> list[str]:
    return [p for p in pids if subprocess.run(["kill", "-0", p], capture_output=True).returncode == 0]


# --------------------------------------------------------------------------------------------------------
# The map: chunks on forked workers, in input order, a bounded way ahead of its results
# --------------------------------------------------------------------------------------------------------


def test_map_chunks_keeps_the_input_order_and_reads_a_generator_only_a_few_chunks_ahead() -> None:
    read: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(40 * parallel.CHUNK):
            read.append(i)
            yield i

    out = []
    for n, value in enumerate(parallel.map_chunks(lambda chunk: [(os.getpid(), x * x) for x in chunk], items(), 2)):
        out.append(value)
        if n == parallel.CHUNK:  # the second chunk's first result: the generator is not run to its end
            assert len(read) <= (2 * parallel.AHEAD + 3) * parallel.CHUNK
    assert [x for _pid, x in out] == [i * i for i in range(40 * parallel.CHUNK)]
    assert os.getpid() not in {pid for pid, _x in out}  # worked on forked processes


def test_map_chunks_runs_one_chunk_here_and_raises_a_steps_error() -> None:
    assert {pid for pid, _x in parallel.map_chunks(lambda c: [(os.getpid(), x) for x in c], iter(range(5)), 4)} \
        == {os.getpid()}
    with pytest.raises(ZeroDivisionError):
        list(parallel.map_chunks(lambda c: [1 // (x - 50) for x in c], range(100), 2))


# --------------------------------------------------------------------------------------------------------
# lumakras test --jobs
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's cases, with a failing case and a malformed file among them (each after several chunks)."""
    folder = tmp_path_factory.mktemp("cases")
    for path in sorted(CASES.glob("*.yaml"))[:6]:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc.get("cases", [doc]):
            if "request_file" in case:
                case["request_file"] = str(ROOT / case["request_file"])
        (folder / path.name).write_text(yaml.safe_dump(doc), encoding="utf-8")
    (folder / "centene-I.B.yaml").write_text("cases: {not: a list}\n", encoding="utf-8")  # malformed
    wrong = yaml.safe_load((CASES / "centene-I.A.yaml").read_text(encoding="utf-8"))
    first = wrong["cases"][0]
    payer = next(iter(first["expect"]))
    first["expect"][payer]["decision"] = "pend" if first["expect"][payer].get("decision") != "pend" else "deny"
    if "request_file" in first:
        first["request_file"] = str(ROOT / first["request_file"])
    (folder / "centene-continuation.yaml").write_text(yaml.safe_dump({"cases": [first]}), encoding="utf-8")
    return folder


@pytest.mark.parametrize("mode", [["-v"], ["--json", "--coverage"]], ids=["text", "json"])
def test_test_on_two_processes_prints_what_one_prints(mixed_cases: Path, mode: list[str]) -> None:
    runs = [lumakras("test", mixed_cases, "--today", TODAY.isoformat(), *mode, "--jobs", jobs) for jobs in "12"]
    assert runs[0].returncode == runs[1].returncode == 2  # a malformed file outranks the failed case
    assert (runs[0].stdout, runs[0].stderr) == (runs[1].stdout, runs[1].stderr)
    assert runs[0].stderr.startswith("lumakras: ") and "cases: must be a list of cases" in runs[0].stderr
    if mode == ["-v"]:
        lines = runs[0].stdout.splitlines()
        assert sum(line.startswith("FAIL") for line in lines) == 1
        assert sum(line.startswith("PASS") for line in lines) > 3 * parallel.CHUNK
        assert lines[-1].endswith("1 failed, 1 files malformed")


def test_test_on_two_processes_exits_1_on_a_failure_only(mixed_cases: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    shutil.copytree(mixed_cases, folder)
    (folder / "centene-I.B.yaml").unlink()
    done = lumakras("test", folder, "--today", TODAY.isoformat(), "--jobs", "2")
    assert done.returncode == 1 and done.stderr == ""


def test_results_are_written_while_later_cases_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --jobs 2 the first results are out before the last case file is even read."""
    from lumakras_logic.authoring import runner
    from lumakras_logic.authoring.runner import Report, run_cases

    files = runner.case_files([CASES])
    read: list[Path] = []
    real = runner.load_cases

    def watched(path, root=None):  # type: ignore[no-untyped-def]
        read.append(path)
        return real(path, root)

    monkeypatch.setattr(runner, "load_cases", watched)
    results = run_cases(shared_decider(), [CASES], Report(), ROOT, jobs=2)
    next(results)
    assert len(read) < len(files)
    results.close()  # the workers stop with the generator


# --------------------------------------------------------------------------------------------------------
# lumakras impact --jobs
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def age21(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("age21") / "kb"
    shutil.copytree(KB, target)
    initial = target / "payers" / "centene" / "initial.dl"
    initial.write_text(initial.read_text(encoding="utf-8").replace("'member.age', 18)", "'member.age', 21)"),
                       encoding="utf-8")
    return target


@pytest.mark.parametrize("mode", [["-v"], ["--json"], ["--format", "markdown"]], ids=["text", "json", "markdown"])
def test_impact_on_two_pairs_prints_what_one_pair_prints(age21: Path, tmp_path: Path, mode: list[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: B\nline_of_business: medicare\nmember: {age: old}\n", encoding="utf-8")
    args = ["impact", "--old", KB, "--new", age21, "--today", TODAY.isoformat(), *mode, "queries", bad,
            "tests/cases/centene-I.A.yaml", "--fail-on-change"]
    runs = [lumakras(*args, "--jobs", jobs) for jobs in "12"]
    assert runs[0].returncode == runs[1].returncode == 2  # the bad request
    assert (runs[0].stdout, runs[0].stderr) == (runs[1].stdout, runs[1].stderr)
    assert "I.A.3" in runs[0].stdout and "bad.yaml" in runs[0].stderr
    changed = lumakras(*args[:-3], "tests/cases/centene-I.A.yaml", "--fail-on-change", "--jobs", "2")
    assert changed.returncode == 1, changed.stderr


def test_a_kb_that_fails_in_a_worker_exits_3_naming_its_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kb failing in an old side or a new-kb worker is one line and exit 3, as on one pair."""
    import multiprocessing

    from click.testing import CliRunner

    import lumakras_logic.analysis.impact as impact
    from lumakras_logic.cli.impact import impact_command
    from lumakras_logic.core.kb import KbError

    old = tmp_path / "kb"
    shutil.copytree(KB, old)
    real = impact.decide_item

    def failing(decider, item, payer):  # type: ignore[no-untyped-def]
        if old in [Path(d) for d in decider.kb.dirs] and "R25" in item.name:  # in the second chunk
            raise KbError("initial.dl:1: a leaf derived no row")
        return real(decider, item, payer)

    monkeypatch.setattr(impact, "decide_item", failing)  # inherited by the forked processes
    batch = tmp_path / "batch"
    batch.mkdir()
    for i in range(40):
        (batch / f"r{i:02d}.yaml").write_text(GOOD.read_text(encoding="utf-8").replace("\nid: ", f"\nid: R{i:02d}-", 1),
                                             encoding="utf-8")
    result = CliRunner().invoke(impact_command, ["--old", str(old), "--new", str(KB), str(batch), "--jobs", "2"])
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines() == ["lumakras: knowledge base (old, --old): initial.dl:1: a leaf derived no row"]
    time.sleep(0.5)
    assert multiprocessing.active_children() == []


def test_impact_help_says_what_jobs_does() -> None:
    text = " ".join(lumakras("impact", "--help").stdout.split())
    assert "--jobs" in text and "Pairs of processes" in text and "README" in text


# --------------------------------------------------------------------------------------------------------
# Every worker ends with the command
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("many")
    text = (CASES / "centene-I.A.yaml").read_text(encoding="utf-8").replace("request_file: ", f"request_file: {ROOT}/")
    for i in range(30):
        (folder / f"c{i:02d}.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "closed pipe"])
@pytest.mark.parametrize("command", ["test", "impact"])
def test_signals_and_a_closed_pipe_stop_every_worker(many_cases: Path, age21: Path, how: str, command: str) -> None:
    def child() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setpgrp()

    args = ["test", many_cases, "-v"] if command == "test" else ["impact", "--old", KB, "--new", age21, many_cases]
    run = subprocess.Popen([sys.executable, "-m", "lumakras_logic.cli", *map(str, args), "--jobs", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, preexec_fn=child)
    assert run.stdout is not None and run.stderr is not None
    run.stdout.readline()  # the first result is out: the workers are at work
    workers = descendants(run.pid)
    assert len(workers) >= 2, workers
    if how == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)
    elif how == "sigterm":
        run.send_signal(signal.SIGTERM)
    run.stdout.close()  # as `| head -1` does
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(run.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=120)
    assert not reader.is_alive(), "a worker process outlived the command and keeps its stderr open"
    status = run.wait(timeout=60)
    expected = {"ctrl-c": {130}, "sigterm": {143}, "closed pipe": {-signal.SIGPIPE, 128 + signal.SIGPIPE}}[how]
    assert status in expected, (status, err)
    assert "Traceback" not in err[0].decode() and "Broken pipe" not in err[0].decode()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(workers):
        time.sleep(0.2)
    assert alive(workers) == []


# --------------------------------------------------------------------------------------------------------
# diff's progress
# --------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_diff_shows_progress_on_a_terminal_only_when_the_report_goes_elsewhere(tmp_path: Path) -> None:
    out = tmp_path / "report.txt"
    args = ["diff", "--no-scenarios", "--condition", "nsclc", "--today", TODAY.isoformat(), "--jobs", "1"]
    done, shown = run_with_terminal_stderr(args, out, 600)
    assert done.returncode == 0
    assert b"diffing parts" in shown and b"replaying witnesses" in shown
    assert re.search(rb"diffing parts.*?(\d+)/\1", shown), shown  # every part counted
    again = lumakras(*args)  # stderr not a terminal: no bar, and the same report (but for its time)
    assert "diffing" not in again.stderr

    def untimed(text: str) -> list[str]:
        return [line for line in text.splitlines() if " s on " not in line]

    assert untimed(again.stdout) == untimed(out.read_text())
