"""`lumakras serve`: the command; the service is lumakras_logic/serve/ (docs/serve.md)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path

import click

from ..core.inputs import limits
from .common import kb_option, session, today_option

DEFAULT_PORT = 8549  # after CP.PHAR.549
APP = "lumakras_logic.serve.app:create_app"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on. The service has no authentication: keep it on loopback unless "
                   "something in front of it (a proxy with access control) decides who reaches it.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Worker processes, each loading the kb once and deciding on one engine thread (pyDatalog "
                   "keeps its state per thread); more workers serve more requests at once.")
@click.option("--examples", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="A folder of example requests the page offers (default: queries/ when it is here, else the "
                   "examples shipped with the package).")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log a line per HTTP request (method, path, status; never a body).")
@today_option()
@kb_option
def serve_command(host: str, port: int, workers: int, examples: Path | None, access_log: bool,
                  today: dt.datetime | None) -> None:
    """Serve the decisions over HTTP on this machine: POST /decide and POST /why (a request document, a
    FHIR Bundle or a QuestionnaireResponse in; the JSON answer, or HTML with Accept: text/html), GET
    /questionnaire/PAYER, GET /health, GET /version, and GET / : a page to paste, upload or pick a request
    (or fill a payer's questionnaire) and read each decision with its tree and what to send.

    The --max-* limits of the group hold for every request body (docs/serve.md). Stop it with Ctrl-C.

    \b
    Examples:
      lumakras serve
      lumakras serve --port 8080 --workers 2
      lumakras --kb kb --kb my-payer/ serve
      curl -s --data-binary @queries/both-deny-kras-negative.yaml 'http://127.0.0.1:8549/decide?payer=all'
    """
    import uvicorn

    from ..serve.config import ENV, ServeConfig

    if examples is None:  # here, else the example requests shipped with the package
        from ..core.kb import shipped_dir

        examples = Path("queries") if Path("queries").is_dir() else shipped_dir() / "queries"
    _check_kb(session().kb_dirs)
    bound = limits()
    config = ServeConfig(kb_dirs=tuple(str(d) for d in session().kb_dirs), limits=bound,
                         today=today.date().isoformat() if today else None, max_body=bound.max_bytes,
                         examples=str(examples) if examples else None)
    os.environ[ENV] = config.to_env()  # each worker process reads it (serve/config.py)
    if not _loopback(host):
        click.echo(f"lumakras: serving on {host}: the service has no authentication; whoever reaches this "
                   "port can send requests and read answers", err=True)
    click.echo(f"lumakras serve: http://{host}:{port}/ ({workers} worker{'s' if workers != 1 else ''})", err=True)
    options = {"access_log": access_log, "log_level": "info", "server_header": False,
               "timeout_graceful_shutdown": 5}
    if workers == 1:
        uvicorn.run(APP, factory=True, host=host, port=port, **options)
        return
    from ..serve.supervisor import reuse_port_supported, run_workers

    if reuse_port_supported():
        sys.exit(run_workers(host, port, workers, options, {ENV: config.to_env()}))
    _run_shared(uvicorn.Config(APP, factory=True, host=host, port=port, workers=workers, **options))


def _run_shared(config: object) -> None:
    """Where SO_REUSEPORT is missing: uvicorn.run's way with several workers on one shared socket, which
    has TCP_NODELAY here (the connections it accepts inherit it): the socket uvicorn hands each worker
    comes back without the protocol number asyncio looks for before setting it (serve/supervisor.py)."""
    import socket

    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()  # type: ignore[attr-defined]
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()  # type: ignore[arg-type]


def _check_kb(kb_dirs: list[Path]) -> None:
    """Load the kb once on a passing thread, so that a kb that cannot load exits 3 with the CLI's one line
    before a port is opened; its pyDatalog state, kept per thread, goes with the thread."""
    import threading

    from ..core.api import Decider
    from ..core.exits import EXIT_BAD_KB, fail
    from ..core.kb import KbError

    failed: list[KbError] = []

    def load() -> None:
        try:
            Decider(list(kb_dirs) or None)
        except KbError as exc:
            failed.append(exc)

    thread = threading.Thread(target=load, name="lumakras-kb-check")
    thread.start()
    thread.join()
    if failed:
        fail(f"knowledge base: {failed[0]}", EXIT_BAD_KB)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
