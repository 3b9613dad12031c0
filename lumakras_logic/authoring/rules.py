"""`lumakras rules`: the policies as the kb encodes them, for policy authors reading beside the policy text.

`build_rules` turns the loaded structure of a `KnowledgeBase` into plain dicts (for tests, `--json` and other
commands); `render_rules` writes those dicts for a person; `rules_command` is the click command. Nothing here
decides a request: it only reads the pathways, criteria, tests, durations and referral targets back.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from typing import Any

from ..core.kb import KnowledgeBase, natural_key

HOW_WORDS = {"all": "all of", "any": "any of", "not": "not"}
REQUEST_TYPE_WORDS = {
    "initial": "initial requests",
    "continuation": "continuation requests",
    "any": "any request (initial or continuation)",
}
CAPPED_WORDS = "or the requested months, whichever is less"
SET_KINDS = ("one_of", "any_value_in")


class RulesError(Exception):
    """An --payer, --pathway or --criterion the kb does not know; the message names the option."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------


class _Index:
    """What the rules view needs beyond KnowledgeBase's structure: where each fact stands, the order of set
    members as written, who each node is part of, durations and referral targets grouped by pathway."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.fact_where: dict[tuple[str, tuple], str] = {}
        self.fact_order: dict[tuple[str, tuple], int] = {}
        for i, s in enumerate(kb.statements):
            if s.is_fact:
                key = (s.head, tuple(s.args))
                self.fact_where.setdefault(key, f"{s.path}:{s.line}")
                self.fact_order.setdefault(key, i)
        self.parents: dict[tuple[str, str], list[str]] = defaultdict(list)
        for (payer, node_id), node in kb.nodes.items():
            for part in node.parts:
                self.parents[(payer, part)].append(node_id)
        for ids in self.parents.values():
            ids.sort(key=natural_key)
        self.durations: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        capped = {tuple(row) for row in kb.ask("duration_capped_by_request", "?P", "?W", "?L")}
        rows = sorted(kb.ask("duration", "?P", "?W", "?L", "?M"),
                      key=lambda r: (self.fact_order.get(("duration", tuple(r)), len(kb.statements)), str(r[2])))
        self.lob_order: dict[str, list[str]] = defaultdict(list)
        for p, w, lob, months in rows:
            self.durations[(p, w)].append({
                "line_of_business": lob, "months": months, "capped_by_request": (p, w, lob) in capped,
                "where": self.fact_where.get(("duration", (p, w, lob, months)), ""),
            })
            if lob not in self.lob_order[p]:
                self.lob_order[p].append(lob)
        self.targets: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for p, w, crit, lob, pol in kb.ask("refer_target", "?P", "?W", "?C", "?L", "?T"):
            self.targets[(p, w)].append({"criterion": crit, "line_of_business": lob, "policy": pol})
        for (p, _w), targets in self.targets.items():
            targets.sort(key=lambda t, p=p: (natural_key(t["criterion"]), self._lob_rank(p, t["line_of_business"])))
        # Narrower values a set test counts as a wider one (value_kind_of, read through value_within).
        self.within: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for f, narrow, wide in kb.ask("value_within", "?F", "?A", "?B"):
            self.within[f].append((narrow, wide))
        # Kinds whose Param names an in_set set: the built-in ones, and any the kb's signatures say so.
        self.set_kinds = set(SET_KINDS) | {k for k, _s, x in kb.ask("test_signature", "?K", "?S", "?X") if x == "set"}
        # The kinds whose Param is a condition, or a set of conditions (reading 17).
        self.condition_kinds = {k for k, _s, x in kb.ask("test_signature", "?K", "?S", "?X") if x == "condition"}
        self.condition_kinds |= {"condition_is", "condition_in"}
        # The kb's own words for a kind (describes(Kind, Words)), the drug under review, the anticancer class.
        self.kind_words: dict[str, str] = {k: w for k, w in kb.ask("describes", "?K", "?W")}
        self.drug = ", ".join(sorted(str(d) for (d,) in kb.ask("requested_drug", "?D") if d)) or "the drug under review"
        self.anticancer = ", ".join(sorted(str(c) for (c,) in kb.ask("anticancer_class", "?C") if c)) or "?"
        # Per payer, the conditions read as another (reads_as) and, for every payer, the kinds of a condition
        # (kind_of_condition): the conditions a diagnosis test counts as its Param besides itself.
        self.condition_counts: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for p, a, b in kb.ask("reads_as", "?P", "?A", "?B"):
            if p and a and b:
                self.condition_counts[p].append((a, b))
        for a, b in kb.ask("kind_of_condition", "?A", "?B"):
            if a and b:
                for payer in kb.policies:
                    self.condition_counts[payer].append((a, b))

    def _lob_rank(self, payer: str, lob: str) -> tuple[int, str]:
        order = self.lob_order.get(payer, [])
        return (order.index(lob), "") if lob in order else (len(order), lob)

    def where(self, predicate: str, *args: Any) -> str:
        return self.fact_where.get((predicate, args), "")

    def members(self, set_name: Any) -> list[Any]:
        """The set's members in the order the kb writes them (a member some rule derives comes last)."""
        values = list(self.kb.sets.get(set_name, []))
        end = len(self.kb.statements)
        return sorted(values, key=lambda v: (self.fact_order.get(("in_set", (set_name, v)), end), str(v)))

    def pathways_of(self, payer: str, node_id: str) -> list[str]:
        """The pathways whose tree holds the node (the node itself when it is a pathway)."""
        seen: set[str] = set()
        todo = [node_id]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            todo += self.parents.get((payer, n), [])
        return [w.id for w in self.kb.pathways.get(payer, []) if w.id in seen]


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_test(kind: str, field: Any, param: Any, members: list[Any] | None = None,
                  counts_as: list[tuple[str, str]] | None = None, words: str | None = None,
                  drug: str = "the drug under review", anticancer: str = "systemic_therapy") -> str:
    """A leaf test in words, as an author checks it against the policy sentence: the kb's words for the kind
    (`words`, its describes/2 fact in kb/engine/tests.dl, with the slots {field}, {param}, {set}, {drug} and
    {anticancer}), else the test's parts ("kind K: field F, param X")."""
    f, x = _shown(field), _shown(param)
    listed = ", ".join(_shown(m) for m in members or []) or f"(the set {x!r} has no members in the kb)"
    template = words
    if template is None:
        text = f"kind {kind}: field {f}, param {x}"
        return f"{text} (the set: {listed})" if members is not None else text
    text = template.format(field=f, param=x, set=listed, drug=drug, anticancer=anticancer)
    if counts_as:
        counts = "; ".join(f"{a} counts as {b}" for a, b in counts_as)
        text = f"{text[:-1]}; {counts})" if text.endswith(")") else f"{text} ({counts})"
    return text


def _test(ix: _Index, payer: str, test: tuple[str, Any, Any] | None) -> dict[str, Any] | None:
    if test is None:
        return None
    kind, field, param = test
    out: dict[str, Any] = {"kind": kind, "field": field, "param": param}
    members = counts_as = None
    if kind in ix.set_kinds:
        members = ix.members(param)
        out["members"] = members
    wanted = set(members) if members is not None else {param}
    if kind == "any_value_in":
        counts_as = sorted((a, b) for a, b in ix.within.get(field, []) if b in wanted and a not in wanted)
    elif kind in ix.condition_kinds:
        counts_as = sorted({(a, b) for a, b in ix.condition_counts.get(payer, []) if b in wanted and a not in wanted})
    if counts_as:
        out["counts_as"] = [list(pair) for pair in counts_as]
    label = ix.kb.field_labels.get(field)
    if label:
        out["field_label"] = label
    out["words"] = describe_test(kind, field, param, members, counts_as, ix.kind_words.get(kind), ix.drug,
                                 ix.anticancer)
    return out


def _criterion(ix: _Index, payer: str, node_id: str, ancestors: tuple[str, ...] = ()) -> dict[str, Any]:
    """A node and its parts, nested. A node under several parents appears under each; a cycle (which the
    kb should never have) is cut and marked."""
    node = ix.kb.nodes[(payer, node_id)]
    out: dict[str, Any] = {
        "id": node_id, "text": node.text, "cite": node.cite, "combines": node.how,
        "test": _test(ix, payer, node.test), "where": node.where, "test_where": node.test_where or None,
        "parents": list(ix.parents.get((payer, node_id), [])),
    }
    if node_id in ancestors:
        out["cycle"] = True
        out["criteria"] = []
        return out
    out["criteria"] = [_criterion(ix, payer, part, (*ancestors, node_id)) for part in node.parts]
    return out


def _pathway(ix: _Index, payer: str, pathway_id: str) -> dict[str, Any]:
    w = next(w for w in ix.kb.pathways[payer] if w.id == pathway_id)
    tree = _criterion(ix, payer, pathway_id)
    return {
        "id": w.id, "outcome": w.outcome, "request_type": w.request_type,
        "text": tree["text"], "cite": tree["cite"], "combines": tree["combines"], "test": tree["test"],
        "where": tree["where"], "pathway_where": ix.where("pathway", payer, w.id, w.outcome, w.request_type),
        "durations": ix.durations.get((payer, w.id), []),
        "refer_targets": ix.targets.get((payer, w.id), []),
        "criteria": tree["criteria"],
    }


def _policy(ix: _Index, payer: str) -> dict[str, Any]:
    pol = ix.kb.policies.get(payer)
    if pol is None:
        return {"id": None, "title": None, "revision": None, "where": "", "requires": [], "otherwise": []}
    return {
        "id": pol.id, "title": pol.title, "revision": pol.revision,
        "where": ix.where("policy", payer, pol.id, pol.title, pol.revision),
        "requires": list(pol.requires),
        # otherwise_when: the nodes that, when met, make the sentence the ground of a deny (none: never).
        "otherwise": [{"text": t, "cite": c, "when": [{"id": n, "text": ix.kb.nodes[(payer, n)].text}
                                                     for n in pol.otherwise_when if (payer, n) in ix.kb.nodes]}
                      for t, c in pol.otherwise],
    }


def _nearest(wanted: str, known: list[str], n: int = 5) -> list[str]:
    """The ids a mistyped one most likely meant: most leading dotted parts in common (siblings first), then
    the same depth, then spelling (case aside)."""
    want = wanted.lower().split(".")

    def rank(k: str) -> tuple:
        parts = k.lower().split(".")
        shared = 0
        for a, b in zip(want, parts, strict=False):
            if a != b:
                break
            shared += 1
        ratio = difflib.SequenceMatcher(None, wanted.lower(), k.lower()).ratio()
        return (-shared, abs(len(parts) - len(want)), -ratio, natural_key(k))

    return sorted(set(known), key=rank)[:n]


def build_rules(kb: KnowledgeBase, payer: str | None = None, pathway: str | None = None,
                criterion: str | None = None) -> list[dict[str, Any]]:
    """The policies as data: one dict per payer with its `policy` and its `pathways` (each with durations,
    referral targets and nested `criteria`); with `criterion`, the payer's `criterion` subtree instead, with
    the nodes it is part of (`parents`) and the pathways it lies within (`pathways`).

    An unknown payer, pathway or criterion raises RulesError naming the option and the known choices."""
    kb.activate()  # kb.ask reads pyDatalog's one global kb
    ix = _Index(kb)
    payers = sorted(set(kb.policies) | {p for p, ws in kb.pathways.items() if ws})
    if payer is not None:
        if payer not in payers:
            raise RulesError("--payer", f"unknown payer {payer!r}; one of {', '.join(payers)}")
        payers = [payer]
    if pathway is not None:
        have = [p for p in payers if any(w.id == pathway for w in kb.pathways.get(p, []))]
        if not have:
            known = "; ".join(f"{p}: {', '.join(w.id for w in kb.pathways.get(p, []))}" for p in payers)
            raise RulesError("--pathway", f"unknown pathway {pathway!r}; known pathways {known}")
        payers = have
    if criterion is not None:
        have = [p for p in payers if (p, criterion) in kb.nodes]
        if not have:
            ids = [n for (p, n) in kb.nodes if p in payers]
            where = f" for {payers[0]}" if len(payers) == 1 else ""
            raise RulesError("--criterion", f"unknown criterion {criterion!r}{where}; nearest: "
                                            f"{', '.join(_nearest(criterion, ids))}")
        if pathway is not None:
            have = [p for p in have if pathway in ix.pathways_of(p, criterion)]
            if not have:
                within = sorted({w for p in payers for w in ix.pathways_of(p, criterion)}, key=natural_key)
                raise RulesError("--criterion", f"{criterion} is not part of pathway {pathway}; it lies within "
                                                f"{', '.join(within) or 'no pathway'}")
        payers = have

    out: list[dict[str, Any]] = []
    for p in payers:
        entry: dict[str, Any] = {"payer": p, "policy": _policy(ix, p)}
        if criterion is not None:
            tree = _criterion(ix, p, criterion)
            tree["pathways"] = ix.pathways_of(p, criterion)
            entry["criterion"] = tree
        else:
            ids = [w.id for w in kb.pathways.get(p, []) if pathway is None or w.id == pathway]
            entry["pathways"] = [_pathway(ix, p, w) for w in ids]
        out.append(entry)
    return out


# ----------------------------------------------------------------------------------------------------------
# Text
# ----------------------------------------------------------------------------------------------------------


def _months(d: dict[str, Any]) -> str:
    text = f"{d['months']} month{'' if d['months'] == 1 else 's'}"
    return f"{text} {CAPPED_WORDS}" if d["capped_by_request"] else text


def _head(c: dict[str, Any]) -> str:
    how = f" ({HOW_WORDS.get(c['combines'], c['combines'])})" if c.get("combines") else ""
    return f"{c['id']}{how}  {c['text']}  [{c['cite']}]"


def _where_line(c: dict[str, Any]) -> str:
    text = f"encoded at {c['where'] or '?'}"
    if c.get("test_where"):
        text += f"; test at {c['test_where']}"
    return text


def _tree(c: dict[str, Any], indent: int, parent: str | None, seen: set[str]) -> list[str]:
    pad, detail = " " * indent, " " * (indent + 4)
    if c["id"] in seen:
        return [f"{pad}{c['id']}  (shown above)"]
    seen.add(c["id"])
    lines = [pad + _head(c)]
    if c.get("test"):
        lines.append(f"{detail}test: {c['test']['words']}")
    lines.append(detail + _where_line(c))
    others = [p for p in c.get("parents", []) if p != parent]
    if parent is not None and others:
        lines.append(f"{detail}also part of: {', '.join(others)}")
    if c.get("cycle"):
        lines.append(f"{detail}(a cycle: {c['id']} is part of itself)")
        return lines
    for part in c.get("criteria", []):
        lines += _tree(part, indent + 2, c["id"], seen)
    return lines


def _policy_lines(entry: dict[str, Any]) -> list[str]:
    pol = entry["policy"]
    if pol["id"] is None:
        return [f"{entry['payer']}  (no policy fact)"]
    lines = [f"{entry['payer']}  {pol['id']}  {pol['title']}  (revision {pol['revision']})"]
    if pol["where"]:
        lines.append(f"  encoded at {pol['where']}")
    if pol["requires"]:
        lines.append(f"  requires: {', '.join(pol['requires'])}")
    for o in pol["otherwise"]:
        lines.append(f"  otherwise: {o['text']}  [{o['cite']}]")
        if o["when"]:
            lines += [f"    the ground of a deny when {w['id']} is met: {w['text']}" for w in o["when"]]
        else:
            lines.append("    never the ground of an answer (no otherwise_when)")
    return lines


def _pathway_lines(w: dict[str, Any]) -> list[str]:
    rtype = REQUEST_TYPE_WORDS.get(w["request_type"], f"{w['request_type']} requests")
    lines = [f"  Pathway {w['id']}: {w['outcome']}, reviews {rtype}",
             f"    {w['text']}  [{w['cite']}]"]
    where = f"    encoded at {w['where'] or '?'}"
    if w["pathway_where"]:
        where += f"; pathway fact at {w['pathway_where']}"
    lines.append(where)
    if w["durations"]:
        lines.append("    approval duration:")
        for d in w["durations"]:
            lob = "any line of business" if d["line_of_business"] == "any" else d["line_of_business"]
            at = f"  ({d['where']})" if d["where"] else ""
            lines.append(f"      {lob}: {_months(d)}{at}")
    elif w["outcome"] == "approve":
        lines.append("    approval duration: none stated in the kb")
    if w["refer_targets"]:
        lines.append("    refers to, by line of business:")
        by_crit: dict[str, list[str]] = {}
        for t in w["refer_targets"]:
            by_crit.setdefault(t["criterion"], []).append(f"{t['line_of_business']} → {t['policy']}")
        for crit, targets in by_crit.items():
            lines.append(f"      when {crit} is met: {', '.join(targets)}")
    elif w["outcome"] == "refer":
        lines.append("    refers to: no refer_target in the kb")
    if w.get("test"):
        lines.append(f"    test: {w['test']['words']}")
    if w["criteria"]:
        lines.append(f"    criteria, {HOW_WORDS.get(w['combines'], w['combines'])}:")
        seen: set[str] = {w["id"]}
        for c in w["criteria"]:
            lines += _tree(c, 6, w["id"], seen)
    return lines


def _criterion_lines(c: dict[str, Any]) -> list[str]:
    lines = [f"  Criterion {c['id']}, part of: {', '.join(c['parents']) or '(nothing: a top-level node)'}",
             f"  within pathways: {', '.join(c['pathways']) or '(none)'}"]
    return lines + _tree(c, 4, None, set())


def render_rules(data: list[dict[str, Any]]) -> str:
    """build_rules' dicts for a person: per payer its policy, then each pathway with its criteria as a tree."""
    blocks: list[str] = []
    for entry in data:
        lines = _policy_lines(entry)
        if "criterion" in entry:
            lines += [""] + _criterion_lines(entry["criterion"])
        for w in entry.get("pathways", []):
            lines += [""] + _pathway_lines(w)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# ----------------------------------------------------------------------------------------------------------
# Command
# ----------------------------------------------------------------------------------------------------------
