"""What loading a kb computes that only its text decides, kept on disk between runs.

A cold `lumakras` command spends most of its time loading the kb: parsing the .dl text (kbtext) and
evaluating once the static predicates that request rules call (KnowledgeBase._materialize). Both depend
only on the kb's files, this package's version and pyDatalog's, so they are written to a cache file named
by a digest of all of them, and read back on the next run: any change to a file gives another name, and
a stale entry is never read. The file is written with marshal (no code runs when it is read); a cache
that cannot be read or written (no home, a read-only disk, a damaged file) is skipped and the kb is
loaded from its text.

Where: $LUMAKRAS_CACHE, else $XDG_CACHE_HOME/lumakras-logic, else ~/.cache/lumakras-logic.
LUMAKRAS_CACHE=off turns it off.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import __version__
from .kbtext import Statement, Var

_FORMAT = 1  # raised when what is written changes
_KEEP = 8  # cache files kept: the newest, so that several kbs (a fixture, an old kb for impact) all stay


def cache_dir() -> Path | None:
    """The folder of the cache, or None when it is turned off."""
    chosen = os.environ.get("LUMAKRAS_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "0", "off", "no", "false") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lumakras-logic"


def _pydatalog_version() -> str:
    """The installed pyDatalog engine, by its module file (its version.py is not kept up to date, and
    importlib.metadata costs a cold start more than this)."""
    from pyDatalog import pyEngine
    try:
        stat = Path(pyEngine.__file__).stat()
    except (OSError, TypeError):
        return "?"
    return f"{pyEngine.__file__}:{stat.st_size}:{stat.st_mtime_ns}"


def cache_key(files: list[tuple[str, str]], strict: bool) -> str:
    """The name of the entry for these files, as (name shown, sha256 of the bytes), in load order."""
    digest = hashlib.sha256(f"{_FORMAT}\0{__version__}\0{_pydatalog_version()}\0{sys.version_info[:2]}\0"
                            f"{strict}\0".encode())
    for shown, sha in files:
        digest.update(f"{shown}\0{sha}\0".encode())
    return digest.hexdigest()


def read(key: str) -> tuple[list[Statement], dict[str, list[tuple[Any, ...]]]] | None:
    """The statements and the materialized rows (twin name -> rows) of an entry, or None."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        data = marshal.loads((folder / f"{key}.cache").read_bytes())
        fmt, stored_key, statements, twins = data
        if fmt != _FORMAT or stored_key != key:
            return None
        return [_statement(s) for s in statements], twins
    except (OSError, ValueError, EOFError, TypeError, IndexError):
        return None


def write(key: str, statements: list[Statement], twins: dict[str, list[tuple[Any, ...]]]) -> None:
    """Write an entry (atomically: another process reads the old file or the new one); keep the newest."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        data = marshal.dumps((_FORMAT, key, [_plain(s) for s in statements], twins))
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=folder, suffix=".tmp", delete=False) as out:
            out.write(data)
        os.replace(out.name, folder / f"{key}.cache")
        entries = sorted(folder.glob("*.cache"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[_KEEP:]:
            old.unlink(missing_ok=True)
    except (OSError, ValueError, TypeError):
        return


# marshal keeps str, int, float, bool, None, tuples, lists and dicts as they are (and runs no code when it
# reads); a variable (a str subclass, which it would write as a str) is written as a one-element frozenset,
# which no kb value is.
def _encode(value: Any) -> Any:
    if isinstance(value, Var):
        return frozenset((str(value),))
    if isinstance(value, tuple):
        return tuple(_encode(v) for v in value)
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, frozenset):
        return Var(next(iter(value)))
    if isinstance(value, tuple):
        return tuple(_decode(v) for v in value)
    return value


def _plain(s: Statement) -> tuple[Any, ...]:
    return (s.path, s.line, s.text, s.head, s.is_fact, _encode(s.args), s.comment, s.block_comment, s.block_line,
            s.body_predicates, [(name, negated, _encode(args)) for name, negated, args in s.body_atoms])


def _statement(data: tuple[Any, ...]) -> Statement:
    path, line, text, head, is_fact, args, comment, block_comment, block_line, predicates, atoms = data
    if not is_fact:  # only rules have variables
        args = _decode(args)
        atoms = [(name, negated, _decode(atom_args)) for name, negated, atom_args in atoms]
    return Statement(path=path, line=line, text=text, head=head, is_fact=is_fact, args=args, comment=comment,
                     block_comment=block_comment, block_line=block_line, body_predicates=predicates,
                     body_atoms=atoms)
