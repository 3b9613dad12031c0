"""Read knowledge-base text safely.

`pyDatalog.load` executes its input as Python, so nothing reaches it unchecked: this module tokenizes a kb
file, accepts only the Datalog subset (facts, rules, comparisons, arithmetic, comments) and re-emits every
statement as one normalized line built from its own tokens. Anything else is a `KbSyntaxError` naming
file:line and what was found, before pyDatalog sees it.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import InputError, limits, read_text

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r]+)
  | (?P<newline>\n)
  | (?P<comment>\#[^\n]*)
  | (?P<string>'[^'\\\n]*'|"[^"\\\n]*")
  | (?P<number>\d+(?![\w.]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|//|[<>+\-*%&~(),])
    """,
    re.VERBOSE,
)

_RESERVED = set(keyword.kwlist) | set(dir(builtins))
_CONSTANT_NAMES = {"True", "False", "None"}
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
_ARITHMETIC = {"+", "-", "*", "//", "%"}
_CONTINUES = {"&", "<=", "~", ",", "(", "+", "-", "*", "//", "%", "==", "!=", "<", ">", ">="}


class Var(str):
    """A variable in a statement's argument list (kept apart from string constants)."""


class KbSyntaxError(Exception):
    """A kb statement outside the accepted Datalog subset."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int


@dataclass
class Statement:
    """One fact or rule, with where it stands and the comment block above it."""

    path: str
    line: int
    text: str  # normalized single line handed to pyDatalog
    head: str  # predicate name of the fact or the rule's head
    is_fact: bool
    args: tuple = ()  # arguments of the fact or of the rule's head: Python values, `Var` for a variable
    comment: str = ""
    block_comment: str = ""  # the comment the statement stands under: its own, or its block's first statement's
    block_line: int = 0  # the line of the first statement of its block (statements with no blank line between)
    body_predicates: list[tuple[str, bool]] = field(default_factory=list)  # (name, negated)
    body_atoms: list[tuple[str, bool, tuple]] = field(default_factory=list)  # (name, negated, args)


def tokenize(text: str, path: str, errors: list[KbSyntaxError] | None = None) -> list[Token]:
    """The file's tokens. With `errors`, text outside the subset is recorded there and left out as an
    'error' token (its statement is then dropped) instead of stopping at the first."""
    tokens: list[Token] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            snippet = text[pos : pos + 20].split("\n")[0]
            error = KbSyntaxError(path, line, f"unexpected text {snippet!r}: not part of the Datalog subset")
            if errors is None:
                raise error
            errors.append(error)
            tokens.append(Token("error", snippet, line))
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
            continue
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "newline":
            tokens.append(Token("newline", "\n", line))
            line += 1
        elif kind == "comment":
            tokens.append(Token("comment", value[1:].strip(), line))
        elif kind != "space":
            tokens.append(Token(kind, value, line))
        pos = m.end()
    return tokens


class Parser:
    """Recursive descent over one statement's tokens; builds its normalized text."""

    def __init__(self, tokens: list[Token], path: str) -> None:
        self.tokens, self.path, self.i = tokens, path, 0
        self.depth = 0  # parentheses open in an expression: bounded (recursive descent)
        self.body_predicates: list[tuple[str, bool]] = []
        self.body_atoms: list[tuple[str, bool, tuple]] = []

    def error(self, message: str) -> KbSyntaxError:
        tok = self.tokens[min(self.i, len(self.tokens) - 1)]
        return KbSyntaxError(self.path, tok.line, message)

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, text: str | None = None, kind: str | None = None) -> Token:
        tok = self.peek()
        if tok is None:
            raise self.error(f"statement ends early, expected {text or kind}")
        if (text is not None and tok.text != text) or (kind is not None and tok.kind != kind):
            raise self.error(f"expected {text or kind}, found {tok.text!r}")
        self.i += 1
        return tok

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    # terms -------------------------------------------------------------
    def constant_value(self, tok: Token) -> object:
        if tok.kind == "string":
            return tok.text[1:-1]
        if tok.kind == "number":
            return self.number(tok.text)
        return {"True": True, "False": False, "None": None}[tok.text]

    def number(self, text: str) -> int:
        if len(text) > limits().max_digits:
            raise self.error(f"a number of more than {limits().max_digits} digits (--max-digits)")
        return int(text)

    def term(self, allow_variables: bool) -> tuple[str, object]:
        """A constant or a variable; returns (text, python value or None for a variable)."""
        tok = self.peek()
        if tok is None:
            raise self.error("statement ends early, expected a term")
        if tok.text == "-" and self.i + 1 < len(self.tokens) and self.tokens[self.i + 1].kind == "number":
            self.i += 2
            return "-" + self.tokens[self.i - 1].text, -self.number(self.tokens[self.i - 1].text)
        if tok.kind in ("string", "number") or tok.text in _CONSTANT_NAMES:
            self.i += 1
            return tok.text, self.constant_value(tok)
        if tok.kind == "name" and (tok.text[0].isupper() or tok.text.startswith("_")):
            if tok.text in _RESERVED:
                raise self.error(f"{tok.text!r} is a Python builtin and cannot name a variable")
            if not allow_variables:
                raise self.error(f"a fact takes constants only, found variable {tok.text!r}")
            self.i += 1
            return tok.text, Var(tok.text)
        raise self.error(f"expected a constant or a Variable, found {tok.text!r}")

    def atom(self, allow_variables: bool = True) -> tuple[str, str, list[object]]:
        name = self.take(kind="name").text
        if not name[0].islower():
            raise self.error(f"predicate names start with a lower-case letter, found {name!r}")
        if name in _RESERVED:
            raise self.error(f"{name!r} is a Python keyword or builtin and cannot name a predicate")
        self.take("(")
        parts: list[str] = []
        values: list[object] = []
        if self.peek() is not None and self.peek().text != ")":
            while True:
                text, value = self.term(allow_variables)
                parts.append(text)
                values.append(value)
                if self.peek() is not None and self.peek().text == ",":
                    self.take(",")
                    continue
                break
        self.take(")")
        return name, f"{name}({', '.join(parts)})", values

    def expression(self) -> str:
        parts = [self.operand()]
        while self.peek() is not None and self.peek().text in _ARITHMETIC:
            parts.append(self.take().text)
            parts.append(self.operand())
        return " ".join(parts)

    def operand(self) -> str:
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take("(")
            self.depth += 1
            if self.depth > limits().max_depth:
                raise self.error(f"parentheses nested deeper than {limits().max_depth} levels (--max-depth)")
            inner = self.expression()
            self.depth -= 1
            self.take(")")
            return f"({inner})"
        text, value = self.term(allow_variables=True)
        if isinstance(value, str) and not isinstance(value, Var):
            raise self.error("comparisons and arithmetic take numbers or Variables, not strings")
        return text

    def literal(self) -> str:
        negated = False
        if self.peek() is not None and self.peek().text == "~":
            self.take("~")
            negated = True
        tok = self.peek()
        if tok is None:
            raise self.error("statement ends early, expected a condition")
        if tok.text == "(":
            self.take("(")
            left = self.comparison_side()
            op = self.take().text
            if op not in _COMPARISONS:
                raise self.error(f"expected a comparison (== != < <= > >=), found {op!r}")
            right = self.comparison_side()
            self.take(")")
            return ("~" if negated else "") + f"({left} {op} {right})"
        name, text, values = self.atom()
        self.body_predicates.append((name, negated))
        self.body_atoms.append((name, negated, tuple(values)))
        return ("~" if negated else "") + text

    def comparison_side(self) -> str:
        """Either an arithmetic expression or a single string constant (for == and !=)."""
        tok = self.peek()
        if tok is not None and tok.kind == "string":
            self.i += 1
            return tok.text
        return self.expression()

    def statement(self) -> tuple[str, str, bool, list[object]]:
        first = self.peek()
        if first is not None and first.text == "+":
            self.take("+")
            name, text, values = self.atom(allow_variables=False)
            if not self.at_end():
                raise self.error(f"unexpected {self.peek().text!r} after a fact")
            return f"+ {text}", name, True, values
        name, head, values = self.atom()
        self.take("<=")
        body = [self.literal()]
        while not self.at_end():
            self.take("&")
            body.append(self.literal())
        return f"{head} <= {' & '.join(body)}", name, False, values




def parse_text(text: str, path: str, errors: list[KbSyntaxError] | None = None) -> list[Statement]:
    """Split kb text into statements and check each; raise KbSyntaxError on the first problem, or, given
    `errors`, record every problem there and return the statements that are sound (`lumakras check`)."""
    statements: list[Statement] = []
    comment_block: list[str] = []
    current: list[Token] = []
    depth = 0
    block = ""  # the comment the current block of statements stands under
    block_line = 0
    blank_since_statement = True

    def finish() -> None:
        nonlocal block, block_line
        own = _paragraph(comment_block)
        if own or blank_since_statement:
            block, block_line = own, current[0].line
        try:
            if any(t.kind == "error" for t in current):
                return  # already recorded by the tokenizer
            if depth > 0:
                raise KbSyntaxError(path, current[0].line, "unbalanced '(': statement never closed")
            statement = _finish(current, path, comment_block)
        except KbSyntaxError as exc:
            if errors is None:
                raise
            errors.append(exc)
            return
        statement.block_comment, statement.block_line = block, block_line
        statements.append(statement)

    after_comment = False
    for tok in tokenize(text, path, errors):
        if tok.kind == "comment":
            if not current:
                comment_block.append(tok.text)
            after_comment = True
            continue
        if tok.kind == "newline":
            was_comment, after_comment = after_comment, False
            if not current:
                if was_comment:
                    continue  # the end of a comment line, not a blank line
                if not comment_block or comment_block[-1] != "":
                    comment_block.append("")
                blank_since_statement = True
                continue
            if depth > 0 or current[-1].text in _CONTINUES:
                continue
            finish()
            current, comment_block, depth, blank_since_statement = [], [], 0, False
            continue
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
            if depth < 0:
                error = KbSyntaxError(path, tok.line, "unbalanced ')'")
                if errors is None:
                    raise error
                errors.append(error)
                current.append(Token("error", ")", tok.line))
                depth = 0
                continue
        current.append(tok)
    if current:
        finish()
    return statements


def _finish(tokens: list[Token], path: str, comment_block: list[str]) -> Statement:
    parser = Parser(tokens, path)
    text, head, is_fact, values = parser.statement()
    args = tuple(values)
    return Statement(
        path=path,
        line=tokens[0].line,
        text=text,
        head=head,
        is_fact=is_fact,
        args=args,
        comment=_paragraph(comment_block),
        body_predicates=parser.body_predicates,
        body_atoms=parser.body_atoms,
    )


def _paragraph(comment_block: list[str]) -> str:
    """The comment that documents a statement: the last paragraph of comment lines above it."""
    paragraph: list[str] = []
    for line in reversed(comment_block):
        if line == "" and paragraph:
            break
        if line:
            paragraph.insert(0, line)
    return " ".join(paragraph)


def parse_file(path: Path, display: str | None = None,
               errors: list[KbSyntaxError] | None = None) -> list[Statement]:
    try:
        text = read_text(path)
    except InputError as exc:
        error = KbSyntaxError(display or str(path), 0, exc.message)
        if errors is None:
            raise error from None
        errors.append(error)
        return []
    return parse_text(text, display or str(path), errors)
