"""What every `lumakras` subcommand shares: the options declared once (--kb, --payer, --json, --format,
--jobs, --today), the session that loads the kb once, and the group that runs the commands as a Unix tool
(the exit statuses are in exits.py)."""

from __future__ import annotations

import gc
import importlib
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from ..core.api import Decider
from ..core.exits import EXIT_BAD_INPUT, EXIT_BAD_KB, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, fail
from ..core.kb import KbError
from ..core.parallel import cores
from ..core.request import token_key

T = TypeVar("T")
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

KB_HELP = ("Knowledge-base folder or .dl file (repeatable; default: the project's kb/). To add a payer beside "
           "the shipped kb, give both: --kb kb --kb my-payer/. Before or after the command's name alike: "
           "`lumakras --kb kb decide --kb my-payer/ ...` loads both, the group's first.")


@dataclass
class Session:
    """The command line's one kb (ctx.obj): the --kb folders given before and after the command's name,
    in order, and the Decider, loaded on first use only, so that a command that needs no kb (template,
    schema answer) never pays for loading one, and one that does loads it once."""

    kb_dirs: list[Path] = field(default_factory=list)
    loaded: Decider | None = None

    def add_kb(self, dirs: Iterable[Path]) -> None:
        """--kb adds to the folders already given (a folder given twice is loaded once)."""
        seen = {d.resolve() for d in self.kb_dirs}
        for d in dirs:
            if d.resolve() not in seen:
                seen.add(d.resolve())
                self.kb_dirs.append(d)

    def decider(self) -> Decider:
        """The kb of --kb (or the shipped one) with its engine, loaded once; one that cannot load exits 3."""
        if self.loaded is None:
            self.loaded = load_decider(self.kb_dirs)
            # The kb lives as long as the command: out of the collector's reach, it is not traversed again
            # at every full collection, and forked workers keep sharing its pages (core/parallel.py).
            gc.freeze()
        return self.loaded


def session() -> Session:
    """The running command's Session (made here when a subcommand is invoked on its own, as tests do)."""
    return click.get_current_context().ensure_object(Session)


def _add_kb(ctx: click.Context, _param: click.Parameter, value: tuple[Path, ...]) -> None:
    ctx.ensure_object(Session).add_kb(value)


# --kb, on the group and on every command that reads a kb: the folders go to the Session, not to the
# command's function (which asks session() for them, or for the loaded Decider).
kb_option = click.option("--kb", multiple=True, type=click.Path(path_type=Path), expose_value=False,
                         callback=_add_kb, help=KB_HELP)


def load_decider(kb_dirs: tuple[Path, ...] | list[Path]) -> Decider:
    """The kb of --kb (or the shipped one) with its engine; a kb that cannot load exits 3."""
    try:
        return Decider(list(kb_dirs) or None)
    except KbError as exc:
        fail(f"knowledge base: {exc}", EXIT_BAD_KB)


def _payer_key(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    """A payer is named in any case, with spaces or hyphens (Centene is centene), as the kb spells it."""
    if value is None:
        return None
    return tuple(token_key(v) for v in value) if isinstance(value, tuple) else token_key(value)


def payer_option(help: str = "A payer of the kb (centene, cigna, ...) or all (default: the request's own "
                             "'payer').", multiple: bool = False, dest: str = "payer") -> Decorator:
    """--payer, in any case; known_payers checks it against the kb once the kb is loaded."""
    return click.option("--payer", dest, multiple=multiple, default=None, callback=_payer_key, help=help)


def known_payers(decider: Decider, payers: Iterable[str], allow_all: bool = True) -> None:
    """Exit 2 on a payer the kb does not know, in one line with the choices."""
    choices = [*decider.kb.payers(), *(["all"] if allow_all else [])]
    for payer in payers:
        if payer not in choices:
            fail(f"--payer: unknown payer {payer!r}; one of {', '.join(choices)} "
                 "(a payer kept outside kb/ is loaded with --kb kb --kb ITS_FOLDER)", EXIT_BAD_INPUT)


def json_option(help: str = "Print the answer as JSON.") -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help=help)


def format_option(default: str | None = "text",
                  help: str = "text for people, markdown for a report, json for programs.",
                  choices: tuple[str, ...] = ("text", "markdown", "json"),
                  json_help: str = "The same as --format json.") -> Decorator:
    """--format and --json (its short form) together; output_format reads the pair. `choices`: the formats
    the command writes (decide and why: text, json, and fhir, docs/fhir.md)."""
    def both(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option("--format", "fmt", type=click.Choice(list(choices)), default=default,
                         show_default=default is not None, help=help)(f)
        return json_option(json_help)(f)
    return both


def output_format(fmt: str | None, as_json: bool) -> str:
    """The format --format and --json ask for; --json with another --format given is exit 2."""
    if as_json and fmt != "json" and click.get_current_context().get_parameter_source("fmt") is \
            click.core.ParameterSource.COMMANDLINE:
        fail(f"--json and --format {fmt} ask for two formats; give one")
    return "json" if as_json else (fmt or "text")


def jobs_option(help: str = "Processes to work on (default: every core); the output is the same on any "
                            "number.", default: Callable[[], int] = cores) -> Decorator:
    """--jobs N (at least 1); not given, `default()`: the command's function always gets a number."""
    return click.option("--jobs", type=click.IntRange(1), default=None, help=help,
                        callback=lambda _ctx, _param, value: value or default())


def today_option(help: str = "Decide requests without a date as of this day (default: today).") -> Decorator:
    return click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help=help)


def shows_progress() -> bool:
    """Progress goes to stderr when a person watches it there and the output goes elsewhere (a file, a
    pipe): a bar redrawn between answers printed on the same terminal would garble them."""
    return sys.stderr.isatty() and not sys.stdout.isatty()


def progress(items: Iterable[T], label: str, length: int | None = None) -> Iterator[T]:
    """The items, with a progress bar on stderr while they are consumed (nothing when shows_progress is
    false): so many of `length`, or a running count when the length is not known in advance."""
    if not shows_progress():
        yield from items
        return
    with click.progressbar(items, length=length, label=label, file=sys.stderr, show_pos=True,
                           show_eta=length is not None) as bar:
        yield from bar


class UnixGroup(click.Group):
    """The command group, run as a Unix tool: Ctrl-C exits 130 and SIGTERM 143, with no traceback, after the
    running command's pools are stopped (they stop when the exception leaves their `with`); a closed pipe
    ends the process quietly (SIGPIPE's default), so `lumakras decide ... | head` is no error.

    The commands of their own modules are imported when they are asked for (click's lazy group): a
    `lumakras decide` does not pay for importing diff, impact or compare (`lazy`: name -> 'module:attr')."""

    lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attr = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module, __package__), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        previous = {sig: signal.getsignal(sig) for sig in (getattr(signal, "SIGPIPE", None), signal.SIGTERM) if sig}
        if hasattr(signal, "SIGPIPE"):
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, _terminated)
        kwargs.pop("standalone_mode", None)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except (click.exceptions.Abort, KeyboardInterrupt):
            sys.stderr.write("\nlumakras: interrupted\n")
            sys.exit(EXIT_INTERRUPTED)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        finally:  # as they were (a test runner calling main in its own process)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _terminated(_signum: int, _frame: object) -> None:
    raise SystemExit(EXIT_TERMINATED)
