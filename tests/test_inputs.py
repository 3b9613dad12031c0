"""The input boundary (lumakras_logic/core/inputs.py): every way a file can be wrong is one line naming the file
(and the field or line), exit 2, and the rest of a batch is still answered; nothing blocks, nothing runs away."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

from lumakras_logic.core.escape import one_line, shown
from lumakras_logic.core.inputs import DEFAULT, InputError, Limits, read_document

GOOD = ROOT / "queries" / "centene-approve-nsclc-I.A.yaml"


def refused(path: Path, *words: str, bound: Limits | None = None) -> str:
    with pytest.raises(InputError) as info:
        read_document(path, bound)
    message = str(info.value)
    assert "\n" not in message and len(message) <= 400, message
    assert message.startswith(f"{path}: "), message
    for w in words:
        assert w in message, message
    return message


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_only_regular_files(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    refused(fifo, "not a regular file")  # refused without opening: a FIFO would block
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    refused(zero, "not a regular file")
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    refused(folder, "is a folder")
    refused(tmp_path / "nowhere.yaml", "no such file")


def test_size_and_encoding(tmp_path: Path) -> None:
    refused(write(tmp_path, "big.yaml", "id: X\nx_pad: " + "a" * 5000 + "\n"), "larger than 1,000 bytes",
            bound=Limits(max_bytes=1000))
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: caf\xe9\n".encode("latin-1"))
    refused(path, "not UTF-8")


def test_yaml_alias_bomb_is_refused_before_it_is_walked(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(path, "aliases are expanded", "--max-nodes")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KB: nothing was expanded


def test_duplicate_keys(tmp_path: Path) -> None:
    refused(write(tmp_path, "dup.yaml", "id: X\ndiagnosis: {condition: nsclc}\ndiagnosis: {condition: gastric}\n"),
            "line 3", "'diagnosis' given twice")
    refused(write(tmp_path, "dup.json", '{"id": "X", "id": "Y"}'), "'id' given twice")
    # a YAML merge key is not a duplicate: the case files' templates use it
    doc = read_document(write(tmp_path, "merge.yaml", "t: &t {a: 1, b: 2}\nu: {<<: *t, b: 3}\n"))
    assert doc["u"] == {"a": 1, "b": 3}


def test_no_nan_or_infinity(tmp_path: Path) -> None:
    refused(write(tmp_path, "nan.yaml", "id: X\nmember: {age: .nan}\n"), "member.age", "nan")
    refused(write(tmp_path, "inf.yaml", "id: X\nmember: {age: -.inf}\n"), "member.age", "inf")
    refused(write(tmp_path, "nan.json", '{"id": "X", "member": {"age": NaN}}'), "NaN")
    refused(write(tmp_path, "inf.json", '{"id": "X", "member": {"age": Infinity}}'), "Infinity")


def test_numbers_strings_lists_and_depth_are_bounded(tmp_path: Path) -> None:
    refused(write(tmp_path, "int.yaml", "id: X\nmember: {age: " + "9" * 5000 + "}\n"), "line 2", "--max-digits")
    refused(write(tmp_path, "int.json", '{"id": "X", "member": {"age": ' + "9" * 5000 + "}}"), "--max-digits")
    refused(write(tmp_path, "str.yaml", "id: X\nx_note: " + "a" * (DEFAULT.max_string + 1) + "\n"), "--max-string")
    refused(write(tmp_path, "list.json", json.dumps({"id": "X", "prior_therapies": ["x"] * 11})),
            "prior_therapies", "a list of 11 entries", bound=Limits(max_items=10))
    refused(write(tmp_path, "deep.yaml", "id: X\nx_deep: " + "[" * 600 + "]" * 600 + "\n"), "--max-depth")
    refused(write(tmp_path, "deep.json", '{"id": "X", "x_deep": ' + "[" * 3000 + "]" * 3000 + "}"), "--max-depth")


@pytest.mark.parametrize("text, words", [
    ("id: X\ndate: !!timestamp 2026-02-30\n", ("line 2", "timestamp '2026-02-30'")),
    ("id: X\nmember: {age: !!int abc}\n", ("line 2", "int 'abc'")),
    ("id: X\nmedication: {dose_evidence: !!bool maybe}\n", ("line 2",)),
    ("id: X\nx: !!python/object:os.system ls\n", ("line 2",)),
    ("id: [unclosed\n", ("not valid YAML",)),
], ids=["timestamp", "int", "bool", "python-tag", "syntax"])
def test_tagged_values_a_constructor_refuses(tmp_path: Path, text: str, words: tuple[str, ...]) -> None:
    refused(write(tmp_path, "tag.yaml", text), "not valid YAML", *words)


def test_messages_cannot_drive_a_terminal() -> None:
    assert one_line("a\nb\x1b[2Jc\u202ed\x7f") == "a\\nb\\x1b[2Jc\\u202ed\\x7f"
    assert shown("x" * 500) .endswith("...") and len(shown("x" * 500)) == 40


def test_a_batch_keeps_its_good_answers(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    bomb = write(tmp_path, "dup.yaml", "id: X\nid: Y\n")
    nan = write(tmp_path, "nan.json", '{"id": "X", "member": {"age": NaN}}')
    run = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", "decide", str(fifo), str(GOOD), str(bomb),
                          str(nan), str(GOOD), "--payer", "centene", "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2, run.stderr
    answers = json.loads(run.stdout)
    assert [a["decision"] for a in answers] == ["approve", "approve"]
    errors = run.stderr.strip().splitlines()
    assert len(errors) == 3 and "Traceback" not in run.stderr
    assert all(len(e) <= 400 for e in errors)


def test_a_kb_file_that_is_no_regular_file_is_one_problem(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    (kb / "folder.dl").mkdir(parents=True)
    os.mkfifo(kb / "pipe.dl")
    run = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", "check", str(ROOT / "kb"), str(kb)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr + run.stdout
    out = run.stdout + run.stderr
    assert "pipe.dl" in out and "not a regular file" in out


def test_strings_from_a_request_cannot_forge_or_hide_output(tmp_path: Path) -> None:
    path = write(tmp_path, "inj.yaml", 'id: "X\\nAPPROVE \\x1b[2J"\nline_of_business: commercial\n'
                                       'diagnosis: {condition: "nsclc\\u202e"}\n'
                                       'prior_therapies: ["carbo\\x7fplatin"]\n')
    raw = ("\x1b", "\u202e", "\x7f", "\x9b")
    for command in (["decide"], ["why"], ["compare"], ["decide", "--json"], ["compare", "--json"]):
        payer = ["--payer", "all"] if command[0] != "compare" else []
        run = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", *command, str(path), *payer],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert run.returncode == 0, (command, run.stderr)
        assert not any(ch in run.stdout for ch in raw), command
        if "--json" in command:
            data = json.loads(run.stdout)  # still JSON, and the data is the request's own
            first = data[0] if isinstance(data, list) else data
            assert first["request"] == "X\nAPPROVE \x1b[2J"
        else:
            assert not any(line.startswith("APPROVE") for line in run.stdout.splitlines()), command


@pytest.mark.slow
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_signals_stop_every_worker_without_a_traceback(sig: int, status: int) -> None:
    def child() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setpgrp()

    run = subprocess.Popen([sys.executable, "-m", "lumakras_logic.cli", "diff", "--no-scenarios", "--jobs", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=child)
    deadline = time.monotonic() + 60
    workers: list[str] = []
    while time.monotonic() < deadline and len(workers) < 2:  # until the pool is at work
        time.sleep(0.5)
        workers = subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True, text=True).stdout.split()
    assert workers, "the diff started no workers"
    if sig == signal.SIGINT:
        os.killpg(run.pid, sig)  # a terminal's Ctrl-C reaches the whole process group
    else:
        run.send_signal(sig)
    _out, err = run.communicate(timeout=60)
    assert run.returncode == status
    assert "Traceback" not in err
    time.sleep(1)
    alive = [w for w in workers if subprocess.run(["kill", "-0", w], capture_output=True).returncode == 0]
    assert alive == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_closed_pipe_ends_quietly(jobs: str) -> None:
    """`lumakras decide ... | head -1` ends, and so do its worker processes: stderr reaches its end (no worker
    keeps it open), with no traceback."""
    run = subprocess.Popen([sys.executable, "-m", "lumakras_logic.cli", "decide", *[str(GOOD)] * 200, "--payer", "all",
                            "--jobs", jobs], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert run.stdout is not None and run.stderr is not None
    run.stdout.readline()
    run.stdout.close()  # as `| head -1` does
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(run.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), "a worker process outlived the command and keeps its stderr open"
    run.wait(timeout=60)
    assert run.returncode in (-signal.SIGPIPE, 128 + signal.SIGPIPE, 0)
    text = err[0].decode()
    assert "Traceback" not in text and "Broken pipe" not in text


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "closed pipe", "killed"])
def test_the_old_kb_process_of_impact_never_outlives_the_command(tmp_path: Path, how: str) -> None:
    """impact decides the old kb in a forked process: however the command ends (Ctrl-C 130, SIGTERM 143,
    a closed pipe, SIGKILL), that process ends too, and nothing prints a traceback."""
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "kb", kb)
    initial = kb / "payers" / "centene" / "initial.dl"
    initial.write_text(initial.read_text(encoding="utf-8").replace("'member.age', 18)", "'member.age', 21)"),
                       encoding="utf-8")
    batch = tmp_path / "batch"
    batch.mkdir()
    text = GOOD.read_text(encoding="utf-8")
    for i in range(300):  # each one changes (I.A.3's reason): the report is written from the first case
        (batch / f"r{i:03d}.yaml").write_text(text.replace("id: ", f"id: R{i:03d}-", 1), encoding="utf-8")

    def child() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setpgrp()

    run = subprocess.Popen([sys.executable, "-m", "lumakras_logic.cli", "impact", "--jobs", "1", "--old",
                            str(ROOT / "kb"), "--new", str(kb), str(batch)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd=ROOT, preexec_fn=child)
    assert run.stdout is not None and run.stderr is not None
    run.stdout.readline()  # the first change is out: both kbs are loaded and at work
    [old_kb] = subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True, text=True).stdout.split()
    if how == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)
    elif how == "sigterm":
        run.send_signal(signal.SIGTERM)
    elif how == "killed":
        run.kill()
    run.stdout.close()  # as `| head -1` does
    err = run.stderr.read().decode()
    status = run.wait(timeout=120)
    expected = {"ctrl-c": {130}, "sigterm": {143}, "killed": {-signal.SIGKILL},
                "closed pipe": {-signal.SIGPIPE, 128 + signal.SIGPIPE}}[how]
    assert status in expected, (status, err)
    assert "Traceback" not in err and "Broken pipe" not in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and subprocess.run(["kill", "-0", old_kb], capture_output=True).returncode == 0:
        time.sleep(0.2)
    assert subprocess.run(["kill", "-0", old_kb], capture_output=True).returncode != 0, "the old kb's process lives on"


@pytest.mark.slow
def test_witnesses_never_overwrite_without_leave_nor_write_through_a_link(tmp_path: Path) -> None:
    folder = tmp_path / "witnesses"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    base = [sys.executable, "-m", "lumakras_logic.cli", "diff", "--no-scenarios", "--condition", "colorectal",
            "--today", "2026-06-01", "--witnesses", str(folder)]
    run = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 2 and "not empty" in run.stderr and run.stdout == ""
    # with --overwrite, a link planted where a witness goes is not followed: the file outside is untouched
    first = subprocess.run([*base[:-1], str(tmp_path / "fresh"), "--json"], capture_output=True, text=True,
                           cwd=ROOT, timeout=300)
    assert first.returncode == 0, first.stderr
    name = sorted(p.name for p in (tmp_path / "fresh").iterdir())[0]
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me", encoding="utf-8")
    (folder / name).symlink_to(outside)
    run = subprocess.run([*base, "--overwrite", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert outside.read_text(encoding="utf-8") == "keep me"
    assert run.returncode == 2 and "cannot write" in run.stderr
    assert json.loads(run.stdout)["totals"]["regions"] > 0  # the report is printed all the same


def test_mutants_that_once_broke_the_contract(tmp_path: Path) -> None:
    # found by bench/fuzz.py: a control character PyYAML's reader refuses before parsing (it crashed, exit 1)
    refused(write(tmp_path, "bell.yaml", "id: X\nx_note: a\x07b\n"), "not valid YAML", "unacceptable character")
    # a wrong value echoed whole into its error (630 characters): shown shortened
    path = write(tmp_path, "long.yaml", "id: X\ndate: [" + ", ".join(["Krazati"] * 80) + "]\n")
    run = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", "decide", str(path), "--payer", "all"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2 and "date: must be a date" in run.stderr
    assert all(len(line) <= 400 for line in run.stderr.splitlines())


def test_kb_and_query_parsers_are_bounded(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "loop.dl").symlink_to("loop.dl")
    (kb / "big.dl").write_text("+ f(" + "9" * 5000 + ")\n", encoding="utf-8")
    (kb / "deep.dl").write_text("g(X) <= " + "(" * 3000 + "f(X)" + ")" * 3000 + "\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", "check", str(ROOT / "kb"), str(kb)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode != 0 and "Traceback" not in out
    assert "symbolic links" in out and "--max-digits" in out and "--max-depth" in out
    for query in ["(" * 3000 + "drug(X)" + ")" * 3000, "drug(X) & (X == " + "9" * 5000 + ")"]:
        run = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", "query", query],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("text, words", [
    (b"cases:\n  - name: x\n    request_file: 123\n    expect: {centene: {decision: approve}}\n",
     "request_file: must be the path of a request file"),
    (b"cases:\n  - name: caf\xe9\n", "not UTF-8"),
    (b"cases:\n  - name: x\n    request: {id: X, date: !!timestamp 2026-02-30}\n"
     b"    expect: {centene: {decision: pend}}\n",
     "timestamp '2026-02-30'"),
], ids=["request-file-number", "not-utf8", "bad-timestamp"])
def test_a_malformed_case_file_is_one_line_for_test_and_impact(tmp_path: Path, text: bytes, words: str) -> None:
    path = tmp_path / "cases.yaml"
    path.write_bytes(text)
    for command in (["test", str(path)], ["impact", "--old", str(ROOT / "kb"), "--new", str(ROOT / "kb"), str(path)]):
        run = subprocess.run([sys.executable, "-m", "lumakras_logic.cli", *command], capture_output=True, text=True,
                             cwd=ROOT, timeout=120)
        assert run.returncode == 2, (command, run.stderr)
        assert "Traceback" not in run.stderr and words in run.stderr, (command, run.stderr)
