"""`lumakras rules`: the command; what it does is lumakras_logic/authoring/rules.py."""

from __future__ import annotations

import json

import click

from ..authoring.rules import RulesError, build_rules, render_rules
from ..core.exits import fail
from .common import json_option, kb_option, payer_option, session


@click.command("rules")
@payer_option("Only this payer's policy (default: every payer).")
@click.option("--pathway", type=str, default=None, help="Only this pathway (e.g. I.A, 2).")
@click.option("--criterion", type=str, default=None,
              help="Only this criterion's subtree, with the nodes and pathways it is part of.")
@json_option("Print the same as data (a list of payers).")
@kb_option
def rules_command(payer: str | None, pathway: str | None, criterion: str | None, as_json: bool) -> None:
    """Show the policies as the kb encodes them, to read beside the policy text.

    For each payer: the policy; for each pathway its outcome, the request type it reviews, its approval
    durations or referral targets, and its criteria as a tree, each with the policy's words, the
    citation, the test of a leaf in words and the kb file:line that encodes it. An unknown --payer,
    --pathway or --criterion is a one-line error (exit 2).

    \b
    Examples:
      lumakras rules --payer centene --pathway I.A
      lumakras rules --payer cigna --pathway 2
      lumakras rules --payer centene --criterion I.A.1
      lumakras rules --payer cigna --json
    """
    decider = session().decider()
    try:
        data = build_rules(decider.kb, payer, pathway, criterion)
    except RulesError as exc:
        fail(str(exc))
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else render_rules(data))

