"""`lumakras serve --workers 2` as a process: each worker answers on the one port (a socket each, the
kernel spreading connections), a worker that dies is started again, and SIGTERM stops them all."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("uvicorn")
from lumakras_logic.serve.supervisor import reuse_port_supported  # noqa: E402

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT: Linux")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url + "/health", timeout=5) as r:  # a new connection each time
            return json.load(r)
    except OSError:
        return None


def _workers_seen(url: str, want: int, seconds: float = 60) -> set[int]:
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    while len(seen) < want and time.monotonic() < deadline:
        health = _health(url)
        if health is None:
            time.sleep(0.2)
        else:
            seen.add(health["worker"])
    return seen


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_workers_answer_a_dead_one_is_replaced_and_sigterm_stops_all(tmp_path: Path) -> None:
    port = _port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "lumakras_logic", "serve", "--port", str(port),
                                 "--workers", "2", "--no-access-log"], cwd=ROOT, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    first: set[int] = set()
    later: set[int] = set()
    try:
        first = _workers_seen(url, 2)
        assert len(first) == 2, log.read_text()
        body = (ROOT / "queries/both-deny-kras-negative.yaml").read_bytes()
        request = urllib.request.Request(url + "/decide?payer=all", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as r:
            assert [a["decision"] for a in json.load(r)] == ["deny", "deny"]
        time.sleep(10.5)  # past the start-up window: a death now is a crash, recovered from
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        later: set[int] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (later - first):
            health = _health(url)
            if health:
                later.add(health["worker"])
        assert later - first, log.read_text()  # a new worker answers
        assert f"worker {victim} died" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    for pid in first | later:
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid)
