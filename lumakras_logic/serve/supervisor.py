"""`lumakras serve --workers N`: N worker processes, each with a listening socket of its own on the same port
(SO_REUSEPORT), so the kernel spreads new connections evenly among them.

uvicorn's own supervisor hands every worker one shared socket; a worker that wakes first accepts every
connection waiting (asyncio accepts up to a hundred at once), so a client that opens its keep-alive
connections together can have all of them on one worker while the others idle: measured here with 8
connections and 2 workers, some runs had both workers busy (146 requests/s) and others one (82). With a
socket per worker the kernel hashes each connection to one of them. The shared socket also lost
TCP_NODELAY on its way to the workers (each answer waited on Nagle's algorithm: 72 ms instead of 18);
each socket here sets it, and the connections it accepts inherit it.

Each worker is a uvicorn server running the app factory (app.py); a worker that dies after it has served is
started again; one that dies at start stops the service with its exit status. Linux (and the BSDs) have
SO_REUSEPORT; elsewhere the service falls back to uvicorn's supervisor.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from typing import Any

APP = "lumakras_logic.serve.app:create_app"
STARTUP = 10.0  # seconds: a worker that dies sooner is a failure to start, not a crash to recover from


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def listening_socket(host: str, port: int, listen: bool = True) -> socket.socket:
    """A TCP socket bound to host:port with SO_REUSEPORT (and TCP_NODELAY, which accepted connections
    inherit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, options: dict[str, Any], environ: dict[str, str]) -> None:
    """One worker process: its own socket on the shared port, and a uvicorn server on it."""
    import uvicorn

    os.environ.update(environ)
    sock = listening_socket(host, port)
    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[sock])


def run_workers(host: str, port: int, workers: int, options: dict[str, Any], environ: dict[str, str]) -> int:
    """Start the workers and keep them running until SIGINT or SIGTERM; the exit status."""
    holder = listening_socket(host, port, listen=False)  # holds the port (0: picks one) for the workers
    port = holder.getsockname()[1]
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this one's pyDatalog state
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}

    def start() -> tuple[Any, float]:
        process = spawn.Process(target=_worker, args=(host, port, options, environ), daemon=False)
        process.start()
        return process, time.monotonic()

    procs = [start() for _ in range(workers)]
    print(f"lumakras serve: workers {', '.join(str(p.pid) for p, _t in procs)} on port {port}", file=sys.stderr,
          flush=True)
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, (process, began) in enumerate(procs):
                if process.is_alive() or stopping:
                    continue
                code = process.exitcode
                if time.monotonic() - began < STARTUP:
                    print(f"lumakras serve: worker {process.pid} failed to start (exit {code}); stopping",
                          file=sys.stderr, flush=True)
                    status = code if isinstance(code, int) and code > 0 else 1
                    stopping.append(0)
                    break
                print(f"lumakras serve: worker {process.pid} died (exit {code}); starting another",
                      file=sys.stderr, flush=True)
                procs[i] = start()
    finally:
        for process, _t in procs:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight, then exits
        deadline = time.monotonic() + 15
        for process, _t in procs:
            process.join(timeout=max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
        holder.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status
