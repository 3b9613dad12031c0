"""Benchmark: `lumakras serve` under load, with 1 and with 2 worker processes (docs/serve.md).

    python bench/serve.py                          # 20 s per setting, 8 requests in flight
    python bench/serve.py --seconds 30 --concurrency 16 --workers 1 2

For each number of workers: the service is started in its own process on a loopback port (access log
off), every worker is waited for (GET /health names the process that answered), then a client keeps
`--concurrency` requests in flight for `--seconds`: POST /decide?payer=all of the examples of queries/
(YAML, JSON and FHIR) in turn. Every answer is checked byte for byte against the answer this process
computes for the same file (core: Decider, the same JSON writer), so an error is any status but 200, any
other body, or a connection that failed; `lost` counts requests sent and never answered. Reports requests
per second and latency percentiles (the time from sending a request to its whole answer). The client is a
few lines of asyncio over keep-alive connections (a client library would spend more CPU per request than
the service does); it runs on the same 2 cores as the service, so the figures are of the pair.
Not a test: the service's capacity is measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lumakras_logic.core.api import Decider  # noqa: E402
from lumakras_logic.core.request import request_files  # noqa: E402
from lumakras_logic.serve.negotiate import answers_json  # noqa: E402


def expected_answers() -> list[tuple[str, bytes, str]]:
    """(name, body, the answer's exact text) of each example every payer answers."""
    decider = Decider()
    out = []
    for path in request_files([ROOT / "queries"]):
        name = path.relative_to(ROOT).as_posix()
        outcome = next(decider.answer_files([Path(name)], "all"))
        if outcome.error is None and outcome.answers:
            out.append((name, (ROOT / name).read_bytes(), answers_json(outcome.answers, single=False)))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workers: int, code: Path) -> tuple[subprocess.Popen, str]:
    """`lumakras serve` of the checkout `code` (its kb and package), on a free port."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.Popen([sys.executable, "-m", "lumakras_logic", "serve", "--port", str(port), "--workers",
                             str(workers), "--no-access-log"], cwd=code, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while len(seen) < workers:  # every worker up: each has answered /health once
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise SystemExit(f"lumakras serve --workers {workers} did not start")
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                health = json.load(r)
        except (OSError, ValueError):
            time.sleep(0.2)
            continue
        if "worker" not in health:  # a version that does not say which worker answered: give them time
            time.sleep(5)
            break
        seen.add(health["worker"])
    return proc, url


class Connection:
    """One keep-alive HTTP/1.1 connection, as little client as a load needs: the Python client libraries
    spend more CPU per request than the service, on the same 2 cores, and would measure themselves."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"POST {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: application/json\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        headers = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        lengths = [int(line.split(":", 1)[1]) for line in headers.split("\r\n") if line.startswith("content-length:")]
        if not lengths:
            raise ValueError("an answer without Content-Length")
        length = lengths[0]
        data = await self.reader.readexactly(length)
        if "connection: close" in headers:
            self.writer.close()
            self.writer = None
        return int(status_line.split()[1]), data


async def load(url: str, examples: list[tuple[str, bytes, str]], seconds: float, concurrency: int,
               per_connection: int = 0) -> dict:
    latencies: list[float] = []
    errors: list[str] = []  # a status other than 200, another body, or no answer at all
    sent = answered = failed = 0
    counter = iter(range(10**12))
    host, port = url.removeprefix("http://").split(":")
    expected = [(f"/decide?payer=all&source={quote(name)}", body, text.encode()) for name, body, text in examples]
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal sent, answered, failed
        conn = Connection(host, int(port))
        while time.perf_counter() < stop:
            target, body, want = expected[next(counter) % len(expected)]
            sent += 1
            began = time.perf_counter()
            try:
                status, data = await conn.post(target, body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                failed += 1
                errors.append(f"{target}: {exc.__class__.__name__}")
                conn = Connection(host, int(port))
                continue
            latencies.append(time.perf_counter() - began)
            answered += 1
            if per_connection and answered % per_connection == 0 and conn.writer is not None:
                conn.writer.close()  # a new connection: the kernel gives it to a worker anew
                conn = Connection(host, int(port))
            if status != 200 or data != want:
                errors.append(f"{target}: HTTP {status}, {'another body' if status == 200 else data[:200]!r}")
        if conn.writer is not None:
            conn.writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    qs = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return {"requests": answered, "seconds": round(elapsed, 2), "rps": round(answered / elapsed, 1),
            "p50_ms": round(qs[49] * 1000, 1), "p90_ms": round(qs[89] * 1000, 1), "p99_ms": round(qs[98] * 1000, 1),
            "max_ms": round(max(latencies, default=0) * 1000, 1), "errors": len(errors),
            "lost": sent - answered - failed, "first_errors": errors[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--per-connection", type=int, default=0,
                        help="Requests on one keep-alive connection before a new one (0: one connection each in "
                             "flight, for the whole run).")
    parser.add_argument("--before", type=Path, default=None,
                        help="Another checkout (a git worktree) to measure side by side, setting by setting.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    examples = expected_answers()
    results = {}
    runs = [(n, label, code) for n in args.workers
            for label, code in ([("before", args.before)] if args.before else []) + [("this", ROOT)]]
    for n, label, code in runs:
        proc, url = start(n, code)
        try:
            asyncio.run(load(url, examples[:3], 2, args.concurrency))  # warm: first requests, imports
            results[(n, label)] = asyncio.run(load(url, examples, args.seconds, args.concurrency,
                                                   args.per_connection))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if args.json:
        print(json.dumps({f"{n} {label}": r for (n, label), r in results.items()}, indent=2))
        return
    print(f"lumakras serve under load: {len(examples)} examples of queries/ in turn, POST /decide?payer=all, "
          f"{args.concurrency} in flight, {args.seconds:g} s per setting, {os.cpu_count()} cores (client included)")
    print("| workers | code | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | lost |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (n, label), r in results.items():
        print(f"| {n} | {label} | {r['requests']} | {r['rps']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | "
              f"{r['max_ms']} | {r['errors']} | {r['lost']} |")
    counts = sorted({n for n, _label in results})
    if len(counts) > 1 and results[(counts[0], "this")]["rps"]:
        ratio = results[(counts[-1], "this")]["rps"] / results[(counts[0], "this")]["rps"]
        print(f"throughput, {counts[-1]} workers / {counts[0]}: {ratio:.2f}x")
    if args.before:
        for n in counts:
            if results[(n, "before")]["rps"]:
                print(f"throughput with {n} worker(s), this / before: "
                      f"{results[(n, 'this')]['rps'] / results[(n, 'before')]['rps']:.2f}x")
    for r in results.values():
        for e in r["first_errors"]:
            print("error:", e)


if __name__ == "__main__":
    main()
