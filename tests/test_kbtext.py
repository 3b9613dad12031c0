"""The kb loader is safe: only facts, rules and comments reach pyDatalog (kbtext.py, notes on pyDatalog).

pyDatalog.load executes its input as Python, so the checks here matter: whatever is not the Datalog subset
must be a KbSyntaxError (or, through load_kb, a KbError) naming path:line, and must never run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import shared_decider

from lumakras_logic.core.kb import KbError, default_kb_dir, load_kb, query
from lumakras_logic.core.kbtext import KbSyntaxError, Var, parse_text

# --------------------------------------------------------------------------------------------------------
# Accepted
# --------------------------------------------------------------------------------------------------------


def one(text: str):
    statements = parse_text(text, "t.dl")
    assert len(statements) == 1, [s.text for s in statements]
    return statements[0]


def test_fact():
    s = one("+ drug('panitumumab', 3, -2, True, None)\n")
    assert s.is_fact
    assert s.head == "drug"
    assert s.args == ("panitumumab", 3, -2, True, None)
    assert s.text == "+ drug('panitumumab', 3, -2, True, None)"
    assert s.line == 1


def test_rule_with_negation_and_comparison():
    s = one("adult(R) <= value(R, 'member.age', A) & ~excluded(R) & (A >= 18)\n")
    assert not s.is_fact
    assert s.head == "adult"
    assert s.args == ("R",) and isinstance(s.args[0], Var)
    assert s.body_predicates == [("value", False), ("excluded", True)]
    assert s.text == "adult(R) <= value(R, 'member.age', A) & ~excluded(R) & (A >= 18)"


def test_negated_comparison_and_string_equality():
    s = one("young(R) <= value(R, 'member.age', A) & ~(A >= 65) & value(R, 'kind', K) & (K != 'x')\n")
    assert "~(A >= 65)" in s.text
    assert "(K != 'x')" in s.text


def test_arithmetic():
    s = one("m(R, S) <= request_date(R, T) & (Mo == (T // 100) % 100) & (S == T - Mo * 100 + 1)\n")
    assert "(Mo == (T // 100) % 100)" in s.text
    assert "(S == T - Mo * 100 + 1)" in s.text


def test_comments_and_blank_lines():
    text = "# heading\n\n# the comment of p\n+ p('a')  # trailing\n\n\n# q's comment\nq(X) <= p(X)\n"
    statements = parse_text(text, "t.dl")
    assert [(s.head, s.line) for s in statements] == [("p", 4), ("q", 8)]
    assert statements[0].comment == "the comment of p"
    assert statements[1].comment == "q's comment"


def test_hash_inside_a_string_is_not_a_comment():
    s = one('+ p("a # b")\n')
    assert s.args == ("a # b",)


@pytest.mark.parametrize("text", [
    "q(X) <= p(X, Y) &\n    r(Y)\n",          # continuation after &
    "q(X) <=\n    p(X, Y) & r(Y)\n",          # continuation after <=
    "q(X) <= p(X, Y) & r(\n    Y)\n",         # inside an atom's parentheses
    "q(X) <= p(X, Y) & (Y >=\n    18) & r(Y)\n",  # inside a comparison's parentheses
])
def test_multi_line_rule(text):
    s = one(text)
    assert s.head == "q"
    assert s.line == 1
    assert "\n" not in s.text
    assert s.body_predicates[0] == ("p", False)


def test_multi_line_fact_inside_parentheses():
    s = one("+ node('centene', 'I.A',\n    'Non-Small Cell Lung Cancer',\n    'CP.PHAR.549 I.A')\n")
    assert s.args == ("centene", "I.A", "Non-Small Cell Lung Cancer", "CP.PHAR.549 I.A")


def test_statement_after_a_multi_line_one_has_its_own_line():
    statements = parse_text("q(X) <= p(X) &\n  r(X)\n+ p(1)\n", "t.dl")
    assert [(s.head, s.line) for s in statements] == [("q", 1), ("p", 3)]


def test_double_quoted_string_with_apostrophe():
    s = one('+ explains(\'any\', \'x\', \'unknown\', "unknown drug \'{x}\': not classified")\n')
    assert s.args[3] == "unknown drug '{x}': not classified"


def test_python_code_inside_a_string_is_data():
    s = one("+ p(\"__import__('os').system('touch x')\")\n")
    assert s.args == ("__import__('os').system('touch x')",)


# --------------------------------------------------------------------------------------------------------
# Rejected, naming path:line
# --------------------------------------------------------------------------------------------------------

REJECTED = {
    "dunder import": "__import__('os').system('x')",
    "import statement": "import os",
    "from import": "from os import system",
    "print statement": "print(1)",
    "lambda": "f = lambda: 1",
    "lambda in a body": "q(X) <= p(X) & (X == lambda: 1)",
    "assignment": "x = 1",
    "attribute access": "q(X) <= a.b(X)",
    "attribute access in a fact": "+ os.system('x')",
    "subscript": "q(X) <= p(X)[0]",
    "subscript of a variable": "q(X) <= p(Y) & (X == Y[0])",
    "exec": "exec('print(1)')",
    "eval": "+ eval('1')",
    "open": "q(X) <= open(X)",
    "call in a fact argument": "+ p(open('x'))",
    "call in a comparison": "q(X) <= p(X) & (X == getattr(X))",
    "semicolon": "+ p('a'); import os",
    "decorator": "@pyDatalog.program()",
    "if expression": "q(X) <= p(X) if True else r(X)",
    "keyword len as a fact": "+ len('x')",
    "keyword class as a fact": "+ class('x')",
    "builtin type in a body": "q(X) <= type(X)",
    "builtin sum": "q(X) <= sum(X)",
    "keyword as a head": "class(X) <= p(X)",
    "upper-case predicate": "+ Drug('x')",
    "fact with a variable": "+ p(X)",
    "fact with a don't-care variable": "+ p('a', _X)",
    "unbalanced (": "q(X) <= (p(X)",
    "unbalanced )": "q(X) <= p(X))",
    "backslash in a string": "+ p('a\\nb')",
    "backslash in a double-quoted string": '+ p("a\\\\b")',
    "line continuation backslash": "q(X) <= p(X) & \\",
    "float fact": "+ p(1.5)",
    "float comparison": "q(X) <= p(X) & (X >= 1.5)",
    "exponent": "+ p(1e5)",
    "string arithmetic": "q(X) <= p(X) & (X == 'a' + 'b')",
    "head only": "q(X)",
    "triple-quoted string": "+ p('''x''')",
}


@pytest.mark.parametrize("statement", REJECTED.values(), ids=REJECTED.keys())
def test_rejected_with_path_and_line(statement):
    text = "# a kb file\n+ fine('a')\n\n" + statement + "\n+ fine('b')\n"
    with pytest.raises(KbSyntaxError) as info:
        parse_text(text, "kb/some/file.dl")
    assert info.value.path == "kb/some/file.dl"
    assert info.value.line == 4
    assert str(info.value).startswith("kb/some/file.dl:4: ")


def test_rule_without_body_at_end_of_file():
    with pytest.raises(KbSyntaxError) as info:
        parse_text("+ a(1)\nq(X) <=\n", "f.dl")
    assert info.value.line == 2


def test_error_line_is_the_line_of_the_offending_token():
    text = "q(X) <= p(X) &\n  r(X) &\n  os.system('x')\n"
    with pytest.raises(KbSyntaxError) as info:
        parse_text(text, "f.dl")
    assert info.value.line == 3


@pytest.mark.parametrize("name", ["len", "class", "type", "max", "print", "exec", "open", "lambda", "import"])
def test_reserved_predicate_names(name):
    with pytest.raises(KbSyntaxError) as info:
        parse_text(f"q(X) <= p(X) & {name}(X)\n", "f.dl")
    assert "f.dl:1" in str(info.value)
    assert name in str(info.value)


@pytest.mark.parametrize("name", ["Exception", "ValueError", "__debug__", "__import__"])
def test_builtin_names_as_variables_are_rejected(name):
    """pyDatalog.load makes a Term only of names that are not Python builtins: a "variable" named
    Exception is the builtin class, so `q(Exception) <= p(Exception)` loads and silently derives nothing."""
    with pytest.raises(KbSyntaxError) as info:
        parse_text(f"+ p(1)\nq({name}) <= p({name})\n", "f.dl")
    assert info.value.line == 2
    assert name in str(info.value)


def test_unbalanced_paren_never_closed_names_the_statement_start():
    with pytest.raises(KbSyntaxError) as info:
        parse_text("+ a(1)\n+ b(1)\nq(X) <= (p(X)\n\n\n", "f.dl")
    assert info.value.line == 3


# --------------------------------------------------------------------------------------------------------
# load_kb: a malicious kb file is a KbError with file:line, and its code never runs
# --------------------------------------------------------------------------------------------------------

def assert_names(message: str, path: Path, line: int) -> None:
    """The message starts with path:line (the path as given, or relative to the working folder)."""
    m = re.match(r"(.+?):(\d+): ", message)
    assert m, message
    assert (Path.cwd() / m.group(1)).resolve() == path.resolve(), message
    assert int(m.group(2)) == line, message


PAYLOADS = [
    "__import__('os').system('touch {mark}')",
    "open('{mark}', 'w').close()",
    "exec(\"open('{mark}', 'w').close()\")",
    "import pathlib; pathlib.Path('{mark}').touch()",
    "q(X) <= p(X) & (X == open('{mark}', 'w'))",
    "+ p(open('{mark}', 'w'))",
    "+ p('a') & __import__('os').system('touch {mark}')",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_malicious_kb_file_never_runs(tmp_path, payload):
    mark = tmp_path / "pwned"
    code = payload.format(mark=mark)
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "good.dl").write_text("+ fine('a')\n", encoding="utf-8")
    evil = kb / "evil.dl"
    evil.write_text(f"# looks harmless\n+ fine('b')\n{code}\n+ fine('c')\n", encoding="utf-8")
    try:
        with pytest.raises(KbError) as info:
            load_kb([kb])
        assert_names(str(info.value), evil, 3)
        assert not mark.exists()
    finally:
        shared_decider()  # the shared kb is active again


def test_the_payload_would_create_the_file_if_executed(tmp_path):
    """The check above can fail: run as Python (what pyDatalog.load does), the payload creates the file."""
    mark = tmp_path / "pwned"
    exec(compile(PAYLOADS[0].format(mark=mark), "payload", "exec"), {})  # noqa: S102
    assert mark.exists()


def test_malicious_file_beside_the_real_kb(tmp_path):
    mark = tmp_path / "pwned"
    evil = tmp_path / "extra.dl"
    evil.write_text(f"+ fine('a')\n\n__import__('os').system('touch {mark}')\n", encoding="utf-8")
    try:
        with pytest.raises(KbError) as info:
            load_kb([default_kb_dir(), evil])
        assert_names(str(info.value), evil, 3)
        assert not mark.exists()
    finally:
        shared_decider()


def test_code_in_a_string_constant_is_loaded_as_data(tmp_path):
    mark = tmp_path / "pwned"
    extra = tmp_path / "extra.dl"
    payload = f"__import__('os').system('touch {mark}')"
    extra.write_text(f'+ harmless_text("{payload}")\n', encoding="utf-8")
    try:
        load_kb([default_kb_dir(), extra])
        assert query("harmless_text", "?X") == [(payload,)]
        assert not mark.exists()
    finally:
        shared_decider()


def test_shared_decider_works_again_after_another_kb_was_loaded(tmp_path):
    extra = tmp_path / "extra.dl"
    extra.write_text("+ only_in_the_other_kb('yes')\n", encoding="utf-8")
    load_kb([default_kb_dir(), extra])
    assert query("only_in_the_other_kb", "?X") == [("yes",)]
    decider = shared_decider()
    with pytest.raises(KbError):
        query("only_in_the_other_kb", "?X")
    doc = {"id": "K", "line_of_business": "medicaid", "diagnosis": {"condition": "nsclc"}}
    answers = decider.answer(decider.parse(doc, "k.yaml"), "all")
    assert [a.payer for a in answers] == ["centene", "cigna"]


def test_missing_kb_folder_is_a_kb_error(tmp_path):
    with pytest.raises(KbError) as info:
        load_kb([tmp_path / "nope"])
    assert "nope" in str(info.value)
    shared_decider()


def test_kb_folder_without_dl_files_is_a_kb_error(tmp_path):
    with pytest.raises(KbError):
        load_kb([tmp_path])
    shared_decider()


def test_real_kb_parses():
    statements = []
    for f in sorted(Path(default_kb_dir()).rglob("*.dl")):
        statements += parse_text(f.read_text(encoding="utf-8"), str(f))
    assert any(s.head == "leaf" and not s.is_fact for s in statements)
    assert any(s.head == "policy" and s.is_fact for s in statements)
