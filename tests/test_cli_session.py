"""The command line's shared options: --kb on the group or the command (the group's first, both loaded,
once), the kb loaded only by commands that need it, --payer in any case, --json against --format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, invoke

import lumakras_logic.cli.common as common

KB = ROOT / "kb"
ACME_KB = ROOT / "tests" / "fixtures" / "acme" / "kb"
ACME_REQUEST = ROOT / "tests" / "fixtures" / "acme" / "requests" / "acme-approve-nsclc.yaml"
APPROVE = ROOT / "queries" / "centene-approve-nsclc-I.A.yaml"
CASES = ROOT / "tests" / "cases" / "centene-I.A.yaml"


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[list[Path]]:
    """The kb folders of each kb load the command line makes."""
    seen: list[list[Path]] = []
    real = common.load_decider

    def counted(dirs):  # type: ignore[no-untyped-def]
        seen.append(list(dirs))
        return real(dirs)

    monkeypatch.setattr(common, "load_decider", counted)
    return seen


@pytest.mark.parametrize("where", [
    ["--kb", KB, "--kb", ACME_KB, "decide"],
    ["decide", "--kb", KB, "--kb", ACME_KB],
    ["--kb", KB, "decide", "--kb", ACME_KB],
], ids=["group", "command", "both"])
def test_kb_before_or_after_the_command_name_is_the_same_kb(where: list, loads: list[list[Path]]) -> None:
    result = invoke(*where, ACME_REQUEST, "--payer", "all", "--json")
    assert result.exit_code == 0, result.stderr
    assert [a["payer"] for a in json.loads(result.stdout)] == ["acme", "centene", "cigna"]
    assert loads == [[KB, ACME_KB]]  # the group's folders first, then the command's; loaded once


def test_a_folder_given_in_both_places_is_loaded_once(loads: list[list[Path]]) -> None:
    result = invoke("--kb", KB, "decide", "--kb", KB, APPROVE, "--payer", "centene")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Q-centene-approve-nsclc-I.A  centene CP.PHAR.549: APPROVE")
    assert loads == [[KB]]


def test_the_group_kb_serves_every_command_that_reads_one(tmp_path: Path) -> None:
    """A kb that cannot load fails each command that reads one with exit 3, given before its name."""
    missing = tmp_path / "nope"
    for command in (["decide", APPROVE], ["why", APPROVE], ["rules"], ["test", CASES], ["compare", APPROVE],
                    ["query", "policy(P, I, T, V)"], ["schema", "request"], ["check"]):
        result = invoke("--kb", missing, *command)
        assert result.exit_code in (1, 3), (command, result.exit_code, result.stderr)
        assert "nope" in result.stderr, command


@pytest.mark.parametrize("command", [["template"], ["schema", "answer"]])
def test_commands_that_need_no_kb_do_not_load_it(command: list[str], tmp_path: Path,
                                                 loads: list[list[Path]]) -> None:
    result = invoke("--kb", tmp_path / "nope", *command)
    assert result.exit_code == 0, result.stderr
    assert result.stdout and loads == []


def test_impact_refuses_the_group_kb(tmp_path: Path) -> None:
    result = invoke("--kb", KB, "impact", "--old", KB, "--new", KB, APPROVE)
    assert result.exit_code == 2
    assert result.stderr == "lumakras: --kb: impact reads two kbs, given with --old and --new\n"


def test_group_help_says_how_the_two_kb_places_combine() -> None:
    text = " ".join(invoke("--help").stdout.split())
    assert "a command's own --kb adds to it" in text
    assert "lumakras --kb kb --kb my-payer/ decide" in text
    assert "the group's first" in " ".join(invoke("decide", "--help").stdout.split())


@pytest.mark.parametrize("command", [
    ["decide", APPROVE],
    ["why", APPROVE],
    ["query", "policy(P, I, T, V)", "--request", APPROVE],
    ["test", CASES, "--coverage"],
], ids=["decide", "why", "query", "test"])
def test_payer_is_chosen_in_any_case_and_an_unknown_one_is_one_line(command: list) -> None:
    good = invoke(*command, "--payer", "CENTENE")
    assert good.exit_code == 0, good.stderr
    bad = invoke(*command, "--payer", "Aetna")
    assert bad.exit_code == 2
    [line] = bad.stderr.splitlines()
    assert line.startswith("lumakras: --payer: unknown payer 'aetna'; one of centene, cigna")


@pytest.mark.parametrize("command", [["compare", APPROVE], ["impact", "--old", KB, "--new", KB, APPROVE],
                                     ["diff", "--no-scenarios"]], ids=["compare", "impact", "diff"])
def test_json_and_another_format_is_one_line_before_any_work(command: list) -> None:
    result = invoke(*command, "--json", "--format", "markdown")
    assert result.exit_code == 2
    assert result.stderr == "lumakras: --json and --format markdown ask for two formats; give one\n"
    assert invoke(*command[:1], "--help").stdout.count("--json") >= 1
