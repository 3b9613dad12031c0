"""Load the knowledge base once, and read its static structure for explanations.

The kb is Datalog text (kb/**/*.dl), checked by `kbtext` before pyDatalog sees it. Loading happens once
per process; any number of requests are then decided against it. The policy's structure (pathways,
nodes, their parts and tests, durations, sentences, vocabulary labels) is read back from the kb once, so
that explanations cost no extra Datalog queries per request.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyDatalog import pyDatalog, pyEngine, pyParser
from pyDatalog.pyParser import Expression, Literal, Term

from . import kbcache
from .inputs import InputError, read_bytes
from .kbtext import KbSyntaxError, Statement, Var, parse_text
from .request import Request, token_key

# Numbers compare exactly (../shared/notes: the default precision turns 1.2 into 1.2000000029802322).
pyEngine.Float_Precision = None


def _rename(text: str, renamed: dict[str, str]) -> str:
    """A rule's text with the predicates of its body called by their twins (KnowledgeBase._materialize)."""
    if not renamed:
        return text
    head, _, body = text.partition(" <= ")
    pattern = re.compile(r"(?<![\w'\"])(" + "|".join(map(re.escape, renamed)) + r")\(")
    return f"{head} <= {pattern.sub(lambda m: renamed[m.group(1)] + '(', body)}"


# The predicates whose facts are about a request: what the loader asserts for each request
# (Request.facts) and what `lumakras query --request` adds (kb/engine/request.dl). Everything else is the
# kb's own, the same for every request.
REQUEST_PREDICATES = frozenset({"request", "request_date", "value", "listed", "item", "item_part", "item_kind",
                                "omitted", "request_file", "request_id", "decision", "status", "decided_by",
                                "candidate"})


class ValueNames(dict):
    """(field, value as the loader writes it) -> the vocabulary's value. A code of a hierarchical code system
    that the table does not list (ICD-10-CM 'C34.90', 'C3490') is looked up by its longest listed prefix,
    as the code system nests its codes ('C34.9', then 'C34'): kb/vocab/icd10cm.dl lists codes to 5
    characters, except where a longer code names another condition."""

    _CODE = re.compile(r"^([a-z][0-9][0-9a-z])\.?([0-9a-z]{0,4})$")

    def get(self, key: Any, default: Any = None) -> Any:  # type: ignore[override]
        if key in self:
            return self[key]
        field_name, value = key
        m = self._CODE.match(value) if isinstance(value, str) else None
        if m:
            category, rest = m.groups()
            for n in range(len(rest), -1, -1):
                code = f"{category}.{rest[:n]}" if n else category
                if (field_name, code) in self:
                    return self[(field_name, code)]
        return default


class KbError(Exception):
    """A knowledge base that cannot be loaded or is inconsistent; the message names file:line."""


def shipped_dir() -> Path:
    """Where the shipped data lies (kb/, scenarios/, queries/): inside the installed package, where the
    wheel puts it (setup.py), or at the top of a source checkout (an editable install)."""
    package = Path(__file__).resolve().parent.parent  # lumakras_logic/
    inside = package / "shipped"
    return inside if (inside / "kb").is_dir() else package.parent


def default_kb_dir() -> Path:
    """$LUMAKRAS_KB, else the shipped kb/ (shipped_dir)."""
    env = os.environ.get("LUMAKRAS_KB")
    if env:
        return Path(env)
    return shipped_dir() / "kb"


def kb_files(dirs: list[Path]) -> list[tuple[Path, str]]:
    """Every .dl file under the given folders (or the files themselves), in a stable order."""
    return [(path, display) for path, display, _name in _kb_files(dirs)]


def _kb_files(dirs: list[Path]) -> list[tuple[Path, str, str]]:
    """(path, name to show, name for the digest): the last is the folder's own name and the path within
    it ('kb/engine/tests.dl'), so that a digest does not depend on where the command runs."""
    out: list[tuple[Path, str, str]] = []
    shipped = (shipped_dir() / "kb").resolve()
    for d in dirs:
        if d.is_file():
            out.append((d, str(d), d.name))
            continue
        if not d.is_dir():
            raise KbError(f"{d}: no such knowledge-base folder")
        for f in sorted(d.rglob("*.dl")):  # a link loop or a folder named *.dl is reported when read
            name = f"{d.resolve().name}/{f.relative_to(d).as_posix()}"
            # the shipped kb is shown as kb/...: its answers read the same wherever the command runs and
            # wherever the package is installed; another kb by its path, from the working folder if it can be
            out.append((f, name if d.resolve() == shipped else _display(f), name))
    return out


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, RuntimeError, OSError):  # not under the working folder, or a link loop
        return str(path)


def query(predicate: str, *args: Any) -> list[tuple[Any, ...]]:
    """Ask predicate(args) with data, never text. An argument '?X' is a variable; others are constants."""
    terms = [Term(a[1:]) if isinstance(a, str) and a.startswith("?") else Expression._pyD_for(a) for a in args]
    try:
        answer = Literal.make(predicate, terms).ask()
    except AttributeError as exc:  # "Predicate without definition"
        raise KbError(f"the knowledge base does not define {predicate}/{len(args)}: {exc}") from None
    return list(answer or [])


def _load_rules(text: str) -> None:
    """pyDatalog.load(text) without its look at the caller's frame (inspect.stack reads the source of every
    frame: a tenth of a cold start) for global names of pyDatalog objects, which the kb's rules never use."""
    pyParser.load(text, newglobals={})


def _clause(fact: tuple[Any, ...]) -> Any:
    return pyEngine.Clause(pyEngine.Literal(fact[0], [pyEngine.Term_of(a) for a in fact[1:]]), [])


def assert_facts(facts: Iterable[tuple[Any, ...]]) -> None:
    """Assert ground facts (predicate, *args) as data. `pyDatalog.assert_fact` builds the parser's objects for
    every fact (a Query with its terms, then the engine's literal): about ten times the cost of asserting the
    engine's literal of constants directly, as here (bench: 0.65 -> 0.05 ms for a request's 20 facts). Same
    engine call, same facts: pyEngine.Term_of makes the constants the parser would."""
    for fact in facts:
        pyEngine.assert_(_clause(fact))


def retract_facts(facts: Iterable[tuple[Any, ...]]) -> None:
    """Retract ground facts asserted by assert_facts."""
    for fact in facts:
        pyEngine.retract(_clause(fact))


def natural_key(node_id: str) -> tuple:
    """Order ids as the policy numbers them: I.A.2 before I.A.10, 2.D.i before 2.D.ii; a part the policy
    does not number (2.diagnosis, II.A.indication) before the numbered ones."""
    roman = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6}
    upper_roman = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}
    key: list[tuple[int, Any]] = []
    for part in node_id.split("."):
        if part.isdigit():
            key.append((1, int(part)))
        elif part in upper_roman:
            key.append((1, upper_roman[part]))
        elif part in roman:
            key.append((2, roman[part]))
        elif len(part) == 1 and part.isalpha():
            key.append((3, part))
        else:
            key.append((0, part))
    return tuple(key)


@dataclass
class Node:
    payer: str
    id: str
    text: str
    cite: str
    how: str | None = None  # 'all' | 'any' | 'not' for a composite; None for a leaf
    parts: list[str] = field(default_factory=list)
    test: tuple[str, Any, Any] | None = None  # (kind, subject, param) for a leaf
    where: str = ""  # file:line of the node fact
    test_where: str = ""


@dataclass
class Pathway:
    payer: str
    id: str
    outcome: str
    request_type: str


@dataclass
class Policy:
    payer: str
    id: str
    title: str
    revision: str
    requires: list[str] = field(default_factory=list)
    otherwise: list[tuple[str, str]] = field(default_factory=list)
    otherwise_when: list[str] = field(default_factory=list)  # nodes: when one is met, `otherwise` is the ground


class _Active(threading.local):
    """The kb pyDatalog holds on this thread: pyDatalog keeps its state per thread, so the local service's
    engine thread (lumakras_logic/serve/worker.py) and another thread each hold their own."""

    kb: KnowledgeBase | None = None


class KnowledgeBase:
    """The loaded kb: pyDatalog holds the rules; this object holds what explanations read."""

    _active = _Active()

    def __init__(self, dirs: list[Path] | None = None, strict: bool = True) -> None:
        """Load the kb. `strict`: the first problem raises KbError; otherwise every problem found while
        loading is kept in `problems` as 'file:line: message' (`lumakras check`), and what can be loaded is."""
        self.dirs = dirs or [default_kb_dir()]
        self.strict = strict
        self.problems: list[str] = []
        self.statements: list[Statement] = []
        files = _kb_files(self.dirs)
        if not files:
            raise KbError(f"{', '.join(map(str, self.dirs))}: no .dl files")
        errors: list[KbSyntaxError] | None = None if strict else []
        self.file_digests: dict[str, str] = {}  # name for the digest -> sha256 of the file
        self._file_name: dict[str, str] = {}  # name shown (Statement.path) -> name for the digest
        texts: list[tuple[str, str]] = []  # (name shown, text) of the files read
        for path, display, name in files:
            try:  # through the input boundary: a regular file within the size limit, UTF-8
                data = read_bytes(path)
                texts.append((display, data.decode("utf-8")))
            except (InputError, UnicodeDecodeError) as exc:
                message = exc.message if isinstance(exc, InputError) else f"not UTF-8 text (byte {exc.start})"
                error = KbSyntaxError(display, 0, message)
                if errors is None:
                    raise error from None
                errors.append(error)
                continue
            self.file_digests[name] = hashlib.sha256(data).hexdigest()
            self._file_name[display] = name
        # what only the text decides, from the last run that loaded the same files (core/kbcache.py)
        self._cache_key = kbcache.cache_key([(d, self.file_digests[self._file_name[d]]) for d, _t in texts],
                                            strict) if not errors else None
        cached = kbcache.read(self._cache_key) if self._cache_key else None
        self._twins: dict[str, list[tuple[Any, ...]]] | None = cached[1] if cached else None
        if cached:
            self.statements = cached[0]
        else:
            for display, text in texts:
                self.statements += parse_text(text, display, errors)
        self.problems += [str(e) for e in errors or []]
        self.digest = self._digest(list(self.file_digests))
        self._heads = {s.head for s in self.statements}
        self._undeclared: set[tuple[str, str]] = set()
        if self._load():
            self._read_structure()
            if self._cache_key and not cached and not self.problems:
                kbcache.write(self._cache_key, self.statements, self._twins or {})

    def _digest(self, files: list[str]) -> str:
        digest = hashlib.sha256()
        for display in files:
            digest.update(display.encode() + b"\0" + self.file_digests[display].encode() + b"\0")
        return digest.hexdigest()

    def payer_files(self, payer: str) -> list[str]:
        """The kb files that can decide a payer's requests: those that state no other payer's facts (the
        engine, the vocabulary, the market) and the payer's own. A change to another payer's file leaves
        this payer's answers, and their digest, as they were."""
        owners: dict[str, set[str]] = defaultdict(set)
        for s in self.statements:
            if s.is_fact and s.args and isinstance(s.args[0], str) and s.args[0] in self.policies:
                owners[self._file_name[s.path]].add(s.args[0])
        shown = {name: display for display, name in self._file_name.items()}
        return [shown[f] for f in self.file_digests if not owners.get(f) or payer in owners[f]]

    def payer_digest(self, payer: str) -> str:
        """sha256 over the contents of payer_files(payer) and their names within their kb folders (so
        that it does not depend on where the command runs)."""
        return self._digest([self._file_name[f] for f in self.payer_files(payer)])

    def _problem(self, message: str) -> None:
        if self.strict:
            raise KbError(message)
        self.problems.append(message)

    def fact_where(self, predicate: str, *args: Any) -> str:
        """file:line of the first fact of predicate whose leading arguments are args ('' if none)."""
        for s in self._facts(predicate):
            if s.args[: len(args)] == args:
                return f"{s.path}:{s.line}"
        return ""

    # loading ----------------------------------------------------------------------------------------
    def _load(self) -> bool:
        pyDatalog.clear()
        called = self._static_called()
        # First what no request changes (facts, and the rules that read no request fact), then the rest.
        # Facts are asserted as data (assert_facts), not parsed again by pyDatalog: kbtext parsed them.
        try:
            assert_facts((s.head, *s.args) for s in self.statements if s.is_fact)
            _load_rules("\n".join(s.text for s in self.statements
                                     if not s.is_fact and (s.head, len(s.args)) not in self._dynamic))
            renamed = self._materialize(called)
            _load_rules("\n".join(_rename(s.text, renamed) for s in self.statements
                                     if not s.is_fact and (s.head, len(s.args)) in self._dynamic))
        except Exception as exc:  # pyDatalog's own complaint about a checked statement
            self._problem(f"pyDatalog rejected the knowledge base: {exc}")
            return False
        KnowledgeBase._active.kb = self
        return True

    def _materialize(self, called: set[tuple[str, int]]) -> dict[str, str]:
        """Compute once what no request can change, and keep it as facts.

        pyDatalog caches nothing between queries (../shared/notes), so every request's leaf query would
        derive the vocabulary again: classes within classes, a drug's every class, which names the kb knows.
        The static predicates (their rules read no request fact, kb/engine/request.dl) that request-dependent
        rules call are evaluated once here and asserted as facts of a twin predicate (`static_NAME`), which
        those rules call instead. Same answers, no policy in Python: the rules stay in kb/ as written, and
        answer `lumakras query` and the kb's own checks as before. Returns name -> twin name."""
        renamed: dict[str, str] = {}
        computed = self._twins is None
        if computed:
            self._twins = {}
            for name, arity in sorted(called):
                rows = query(name, *(f"?X{i}" for i in range(arity)))
                if rows:  # else nothing to keep: rules call the predicate itself
                    self._twins[name] = [tuple(row) for row in rows]
        assert self._twins is not None
        for name, rows in self._twins.items():
            twin = f"static_{name}"
            assert_facts((twin, *row) for row in rows)
            renamed[name] = twin
        return renamed

    def _static_called(self) -> set[tuple[str, int]]:
        """The static predicates (name, arity) that rules depending on a request fact call; sets
        `_dynamic`, the predicates whose rules depend on a request fact."""
        rules: dict[tuple[str, int], list[Statement]] = defaultdict(list)
        for s in self.statements:
            if not s.is_fact:
                rules[(s.head, len(s.args))].append(s)
        dynamic: set[tuple[str, int]] = set()
        changed = True
        while changed:
            changed = False
            for key, defs in rules.items():
                if key not in dynamic and any(name in REQUEST_PREDICATES or (name, len(args)) in dynamic
                                              for s in defs for name, _neg, args in s.body_atoms):
                    dynamic.add(key)
                    changed = True
        self._dynamic = dynamic
        self.unbatchable = self._unbatchable(rules)
        return {(name, len(args)) for key in dynamic for s in rules[key] for name, _neg, args in s.body_atoms
                if (name, len(args)) in rules and (name, len(args)) not in dynamic
                and name not in REQUEST_PREDICATES}

    def _unbatchable(self, rules: dict[tuple[str, int], list[Statement]]) -> list[tuple[Statement, str]]:
        """The rules that could mix requests if several were asked at once, each with the literal at fault.

        The engine asks the leaf query for a batch of requests with the request number free (engine.py).
        That gives each request the rows it would get alone when, in every rule about a request, every
        literal about a request (a request fact, or a predicate whose rules read one; the request is the
        first argument) is about the rule's own request (the head's first argument), and every negated one
        comes after a positive one that binds it: pyDatalog answers ~p(R, F) with R free as "no request at
        all has p". When some rule does not, the engine asks one request at a time; `lumakras check` names
        the rule."""
        about_request = set(self._dynamic) | {name for name in REQUEST_PREDICATES}
        out: list[tuple[Statement, str]] = []
        for key in sorted(self._dynamic):
            for s in rules[key]:
                request_var = s.args[0] if s.args and isinstance(s.args[0], Var) else None
                bound = False
                for name, negated, args in s.body_atoms:
                    if name not in about_request and (name, len(args)) not in about_request:
                        continue
                    if request_var is None or not args or args[0] != request_var or (negated and not bound):
                        out.append((s, f"{'~' if negated else ''}{name}"))
                        break
                    bound = bound or not negated
        return out

    def activate(self) -> None:
        """Make this kb the one pyDatalog holds (pyDatalog has one kb per thread)."""
        if KnowledgeBase._active.kb is not self:
            self._load()

    # structure --------------------------------------------------------------------------------------
    def _facts(self, predicate: str) -> list[Statement]:
        return [s for s in self.statements if s.is_fact and s.head == predicate]

    def _read_structure(self) -> None:
        where = {}
        for s in self._facts("node"):
            where[(s.args[0], s.args[1])] = f"{s.path}:{s.line}"
        test_where = {(s.args[0], s.args[1]): f"{s.path}:{s.line}" for s in self._facts("test")}

        self.policies: dict[str, Policy] = {}
        for p, pid, title, rev in query("policy", "?P", "?I", "?T", "?V"):
            self.policies[p] = Policy(p, pid, title, rev)
        for p, f in self.ask("requires_field", "?P", "?F"):
            if p in self.policies:
                self.policies[p].requires.append(f)
        for p, text, cite in self.ask("otherwise", "?P", "?T", "?C"):
            if p in self.policies:
                self.policies[p].otherwise.append((text, cite))
        for p, n in self.ask("otherwise_when", "?P", "?N"):
            if p in self.policies:
                self.policies[p].otherwise_when.append(n)

        self.nodes: dict[tuple[str, str], Node] = {}
        for p, n, text, cite in query("node", "?P", "?N", "?T", "?C"):
            self.nodes[(p, n)] = Node(p, n, text, cite, where=where.get((p, n), ""),
                                      test_where=test_where.get((p, n), ""))
        for p, n, how in query("combines", "?P", "?N", "?H"):
            self._node(p, n, "combines").how = how
        for p, child, parent in query("part_of", "?P", "?C", "?N"):
            self._node(p, child, "part_of")
            self._node(p, parent, "part_of").parts.append(child)
        for node in self.nodes.values():
            node.parts.sort(key=natural_key)
        for p, n, kind, subject, param in query("test", "?P", "?N", "?K", "?S", "?X"):
            self._node(p, n, "test").test = (kind, subject, param)

        self.pathways: dict[str, list[Pathway]] = defaultdict(list)
        for p, w, outcome, rtype in query("pathway", "?P", "?W", "?O", "?T"):
            self._node(p, w, "pathway")
            self.pathways[p].append(Pathway(p, w, outcome, rtype))
        for ws in self.pathways.values():
            ws.sort(key=lambda w: natural_key(w.id))
        for p, policy in self.policies.items():
            for n in policy.otherwise_when:
                self._node(p, n, "otherwise_when")

        self.sentences = {(k, s, n): t for k, s, n, t in query("explains", "?K", "?S", "?N", "?T")}
        self.questions = {(k, n): t for k, n, t in self.ask("asks", "?K", "?N", "?T")}
        self.sends = {(k, n): f for k, n, f in self.ask("sends", "?K", "?N", "?F")}
        self.field_labels = dict(query("field_label", "?F", "?L"))
        # Names of a field's values as people write them (synonyms, codes), matched as the loader writes a
        # value: lower-case, spaces and hyphens as '_' (request.token_key). Codes are the conditions'.
        self.value_aliases: ValueNames = ValueNames()
        self.value_names: dict[str, dict[str, str]] = defaultdict(dict)  # field -> {name as written: value}
        codes = self.ask("condition_code", "?S", "?C", "?I")
        named = [*self.ask("value_alias", "?F", "?W", "?V"), *(("diagnosis.condition", c, i) for _s, c, i in codes)]
        for f, w, v in named:
            self.value_aliases.setdefault((f, token_key(str(w))), v)
            self.value_names[f].setdefault(str(w), v)
        self.condition_labels = dict(self.ask("condition", "?I", "?L"))
        self.known_names = frozenset(n for (n,) in self.ask("known_name", "?N"))
        self.drug_names = frozenset(d for (d,) in self.ask("drug", "?D"))
        self.universal_lists = frozenset(f for (f,) in self.ask("universal_list", "?F"))
        self.drug_lists = frozenset(f for (f,) in self.ask("drug_list", "?F"))
        self.class_names = frozenset(n for n, _c in self.ask("names_class", "?N", "?C"))
        kinds = {k for (k,) in self.ask("condition_kind", "?K")}
        self.condition_fields = frozenset(n.test[1] for n in self.nodes.values() if n.test and n.test[0] in kinds)
        self.ambiguous: dict[str, list[str]] = defaultdict(list)
        for n, d in self.ask("ambiguous_name", "?N", "?D"):
            if n:
                self.ambiguous[n].append(d)
        self._suggestions: dict[str, dict[str, str]] = {}
        self._suggested: dict[tuple[str, str], str] = {}
        self.sets: dict[str, list[str]] = defaultdict(list)
        for name, value in query("in_set", "?S", "?V"):
            self.sets[name].append(value)
        self.class_labels = dict(self.ask("class_label", "?C", "?L"))
        self.drug_classes: dict[str, list[str]] = defaultdict(list)
        for d, c in self.ask("drug_class", "?D", "?C"):
            self.drug_classes[d].append(c)
        self.regimen_labels = dict(self.ask("regimen_label", "?G", "?L"))
        self.class_aliases = dict(self.ask("class_alias", "?N", "?C"))
        self.subclass = defaultdict(list)
        for c, w in self.ask("subclass_of", "?C", "?W"):
            self.subclass[c].append(w)
        self.rule_where = self._leaf_rule_locations()
        self._validate()

    def _validate(self) -> None:
        """Structural mistakes a policy author can make, reported with file:line before any request."""
        hows = {h for (h, _u) in self.ask("kleene_unit", "?H", "?U")}
        kinds = {kind for (kind, _s, _n) in self.rule_where}
        combine_where = {(s.args[0], s.args[1]): f"{s.path}:{s.line}" for s in self._facts("combines")}
        for (payer, node_id), node in sorted(self.nodes.items()):
            if (payer, node_id) in self._undeclared:
                continue
            where = node.where or f"{payer} {node_id}"
            if node.how is not None and node.how not in hows:
                self._problem(f"{combine_where.get((payer, node_id), where)}: {payer} {node_id} combines its "
                              f"parts by {node.how!r}; the Kleene table (kb/engine/kleene.dl) knows "
                              f"{', '.join(sorted(hows))}")
            if node.test is not None and node.parts:
                self._problem(f"{node.test_where}: {payer} {node_id} has both a test and parts")
            if node.test is None and not node.parts:
                self._problem(f"{where}: {payer} {node_id} has neither a test nor parts (part_of facts)")
            if node.test is not None and node.test[0] not in kinds:
                self._problem(f"{node.test_where}: {payer} {node_id} asks a test of kind {node.test[0]!r}, "
                              f"which no leaf rule defines (kinds: {', '.join(sorted(kinds))})")

    def request_facts(self, request: Request, rid: int) -> list[tuple[Any, ...]]:
        """The request's facts about request number `rid`, with this kb's names: values written as a synonym
        or code are the vocabulary's own, and drug-list entries are split into the names the kb knows."""
        return request.facts(rid, self.value_aliases, self.known_names.__contains__)

    def unknown_items(self, facts: list[tuple[Any, ...]]) -> list[tuple[str, str]]:
        """(field, name) of the drug-list entries the vocabulary does not know, from a request's facts: what
        kb/engine/names.dl's unknown_item/3 derives (a part that is no known name; an entry of a kind that is
        no class), read from the same kb sets without a second query per request."""
        out = {(f[2], f[4]) for f in facts if f[0] == "item_part" and f[4] not in self.known_names}
        out |= {(f[2], f[3]) for f in facts if f[0] == "item_kind" and f[4] not in self.class_names}
        out = {x for x in out if x[0] in self.drug_lists}
        # a diagnosis the vocabulary does not know (reading 17), for the fields the condition kinds read
        out |= {(f[2], f[3]) for f in facts if f[0] == "value" and f[2] in self.condition_fields
                and f[3] not in self.condition_labels}
        return sorted(out)

    def defined(self, predicate: str) -> bool:
        """Whether some fact or rule of the kb defines the predicate."""
        return predicate in self._heads

    def ask(self, predicate: str, *args: Any) -> list[tuple[Any, ...]]:
        """query(), or no answers for a predicate this kb does not define (an optional part of a policy)."""
        if not self.defined(predicate):
            return []
        self.activate()
        return query(predicate, *args)

    def _node(self, payer: str, node_id: str, used_by: str) -> Node:
        node = self.nodes.get((payer, node_id))
        if node is None:
            where = self.fact_where(used_by, payer, node_id)
            if not where and used_by == "part_of":
                where = next((f"{s.path}:{s.line}" for s in self._facts("part_of")
                              if s.args[0] == payer and s.args[2] == node_id), "")
            self._problem(f"{where or payer + ' ' + node_id}: {used_by} names criterion {payer} {node_id}, but "
                          f"no node('{payer}', '{node_id}', Text, Citation) fact defines it")
            node = self.nodes[(payer, node_id)] = Node(payer, node_id, "", "")
            self._undeclared.add((payer, node_id))
        return node

    def _leaf_rule_locations(self) -> dict[tuple[str, str, str], str]:
        """(test kind, status, note) -> file:line of the rule that writes such leaf rows."""
        out: dict[tuple[str, str, str], str] = {}
        for s in self.statements:
            if s.is_fact or s.head != "leaf" or len(s.args) != 8:
                continue
            status, note = s.args[3], s.args[4]
            kinds = [a[2] for name, neg, a in s.body_atoms
                     if name == "test" and not neg and len(a) == 5 and not isinstance(a[2], Var)]
            if isinstance(status, Var) or isinstance(note, Var):  # a rule that writes rows of any status
                status, note = "*", "*"
            for kind in kinds or ["*"]:
                out.setdefault((kind, status, note), f"{s.path}:{s.line}")
        return out

    # helpers for explanations ------------------------------------------------------------------------
    def payers(self) -> tuple[str, ...]:
        return tuple(sorted(self.policies))

    def node(self, payer: str, node_id: str) -> Node:
        return self.nodes[(payer, node_id)]

    def sentence(self, kind: str, status: str, note: str) -> str | None:
        return self.sentences.get((kind, status, note)) or self.sentences.get(("any", status, note))

    def question(self, kind: str, note: str) -> str | None:
        return self.questions.get((kind, note)) or self.questions.get(("any", note))

    def suggest(self, written: str, field: str) -> str:
        """' (did you mean krazati (adagrasib)?)': the vocabulary's names nearest a name it does not know
        (a drug-list entry when `field` is 'drug', else a value of that field), or ''. A suggestion, never a
        correction."""
        key = (written, field)
        if key not in self._suggested:
            self._suggested[key] = self._suggest(written, field)
        return self._suggested[key]

    def _suggest(self, written: str, field: str) -> str:
        from rapidfuzz import fuzz, process, utils  # only when a name is unknown: no cost at start-up

        names = self._suggestion_names(field)
        hits = process.extract(written, list(names), scorer=fuzz.ratio, processor=utils.default_process,
                               limit=3, score_cutoff=75)
        if not hits:
            return ""
        best: dict[str, str] = {}  # what a name names -> the nearest name of it
        for name, _score, _i in hits:
            best.setdefault(names[name] or name, name)
        shown = [(self.label(name) if name in self.condition_labels else name) if target == name
                 else f"{name} ({self.label(target)})" for target, name in best.items()]
        return f" (did you mean {' or '.join(shown)}?)"

    def _suggestion_names(self, field: str) -> dict[str, str]:
        """Names to suggest from, each with what it names ('' when it is itself an id)."""
        if field not in self._suggestions:
            names: dict[str, str] = {}
            if field == "class":
                for name, target in self.ask("names_class", "?N", "?T"):
                    names.setdefault(name, "" if name == target else target)
            elif field == "drug":
                for predicate in ("names_drug", "names_regimen", "names_class"):
                    for name, target in self.ask(predicate, "?N", "?T"):
                        names.setdefault(name, "" if name == target else target)
                for name in self.ambiguous:
                    names.setdefault(name, "")
            else:
                for written, value in self.value_names.get(field, {}).items():
                    names.setdefault(written, value)
                if field == "diagnosis.condition":
                    for cond in self.condition_labels:
                        names.setdefault(cond, "")
            self._suggestions[field] = names
        return self._suggestions[field]

    def label(self, value: Any) -> str:
        """The vocabulary's words for an id: a condition's label, a class's phrase, a regimen's name, a
        field's label; else the id itself."""
        text = str(value)
        for table in (self.condition_labels, self.class_labels, self.regimen_labels, self.field_labels):
            if text in table:
                return str(table[text])
        return text.replace("_", " ")

    def class_label(self, cls: str) -> str:
        return self.class_labels.get(cls, cls.replace("_", " "))

    def wider_classes(self, cls: str, target: str) -> list[str]:
        """The chain of classes from cls up to target (both included), or [] if cls is not within target."""
        if cls == target:
            return [cls]
        for wider in self.subclass.get(cls, []):
            chain = self.wider_classes(wider, target)
            if chain:
                return [cls, *chain]
        return []


_LOADED: OrderedDict[tuple[Any, ...], KnowledgeBase] = OrderedDict()
_KEEP = 4  # the kbs a process keeps loaded (impact's two sides, a test suite's variants)


def _load_key(dirs: list[Path] | None) -> tuple[Any, ...] | None:
    """What a loaded kb depends on: each file's path, size and modification time, and the working folder
    (files are shown relative to it); None when a file cannot be looked at (the load reports it)."""
    try:
        files = _kb_files(list(dirs) if dirs else [default_kb_dir()])
        stats = tuple((str(path.resolve()), display, path.stat().st_size, path.stat().st_mtime_ns)
                      for path, display, _name in files)
        return (str(Path.cwd()), stats)
    except (KbError, OSError, RuntimeError):
        return None


def load_kb(dirs: list[Path] | None = None, strict: bool = True) -> KnowledgeBase:
    """Load a kb, turning a syntax error into a KbError that names file:line. A kb whose files have not
    changed since it was loaded in this process is the same object (loading takes half a second; a
    library caller or a test suite that builds many Deciders pays it once per kb)."""
    key = _load_key(dirs) if strict else None
    if key is not None and key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    try:
        kb = KnowledgeBase(dirs, strict)
    except KbSyntaxError as exc:
        raise KbError(str(exc)) from None
    if key is not None:
        _LOADED[key] = kb
        while len(_LOADED) > _KEEP:
            _LOADED.popitem(last=False)
    return kb
