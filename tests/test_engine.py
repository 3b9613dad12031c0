"""Engine-level behaviour: the Kleene fold, deciding one request under several payers, cleanliness between
requests, determinism, loading once, and the explanations built from the kb."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, TODAY, shared_decider

from lumakras_logic.core import kb as kb_module
from lumakras_logic.core.api import Decider
from lumakras_logic.core.kb import kb_files, query
from lumakras_logic.core.kbtext import parse_file
from lumakras_logic.core.request import RequestError, load_request

MET, NOT_MET, ND = "met", "not_met", "not_documented"
STATUSES = (MET, NOT_MET, ND)

BASE = {"date": "2026-03-01", "line_of_business": "commercial"}
NSCLC = {"condition": "nsclc", "disease_state": ["metastatic"], "kras_g12c": "positive", "kras_test": "fda_approved"}
CRC = {"condition": "colorectal", "disease_state": ["metastatic"], "kras_g12c": "positive"}

DOCS = {
    "crc-vectibix": dict(BASE, id="E-crc", member={"age": 60}, diagnosis=CRC,
                         prescriber={"specialty": "oncology"},
                         medication={"product": "lumakras", "dose_mg_per_day": 960, "with": ["Vectibix"]},
                         prior_therapies=["FOLFOX"]),
    "nsclc-unknown": dict(BASE, id="E-unknown", member={"age": 60}, diagnosis=NSCLC,
                          prescriber={"specialty": "oncology"},
                          medication={"product": "lumakras", "dose_mg_per_day": 960, "with": []},
                          prior_therapies=["xyz"]),
    "nsclc-krazati": dict(BASE, id="E-krazati", member={"age": 60}, diagnosis=NSCLC,
                          prescriber={"specialty": "oncology"},
                          medication={"product": "lumakras", "dose_mg_per_day": 960, "with": []},
                          prior_therapies=["carboplatin", "Krazati"]),
    "minor": dict(BASE, id="E-minor", member={"age": 15}, diagnosis=NSCLC),
    "continuation": dict(BASE, id="E-cont", request_type="continuation", diagnosis=NSCLC,
                         continuation={"via_plan_benefit": True, "responding": True}),
    "continuation-other": dict(BASE, id="E-cont-other", request_type="continuation",
                               diagnosis={"condition": "melanoma"},
                               continuation={"via_plan_benefit": True, "responding": True}),
    "dose-increase": dict(BASE, id="E-dose", request_type="continuation", diagnosis=NSCLC,
                          medication={"dose_evidence": False},
                          continuation={"via_plan_benefit": True, "responding": True, "new_dose_mg_per_day": 1200}),
    "nothing": dict(BASE, id="E-nothing"),
}
EXPECTED = {  # (centene, cigna)
    "crc-vectibix": ("approve", "approve"),
    "nsclc-unknown": ("pend", "pend"),
    "nsclc-krazati": ("deny", "approve"),
    "minor": ("refer", "deny"),
    "continuation": ("approve", "pend"),
    "continuation-other": ("refer", "deny"),
    "dose-increase": ("refer", "pend"),
    "nothing": ("pend", "pend"),
}


def request(decider, name):
    return decider.parse(DOCS[name], f"{name}.yaml")


def all_requests(decider):
    out = [request(decider, name) for name in DOCS]
    out += [load_request(p, decider.kb.payers(), TODAY) for p in sorted((ROOT / "queries").glob("*.yaml"))]
    return out


def walk(criteria):
    for c in criteria:
        yield c
        yield from walk(c.parts)


def all_entries(answer):
    yield from walk(answer.criteria)
    for near in answer.closest:
        yield from walk(near.criteria)


def find(answer, node_id):
    found = [c for c in all_entries(answer) if c.id == node_id]
    assert found, f"{node_id} not in the answer"
    return found[0]


# --------------------------------------------------------------------------------------------------------
# Kleene
# --------------------------------------------------------------------------------------------------------


def kleene_all(xs):
    if all(x == MET for x in xs):
        return MET
    if any(x == NOT_MET for x in xs):
        return NOT_MET
    return ND


def kleene_any(xs):
    if any(x == MET for x in xs):
        return MET
    if all(x == NOT_MET for x in xs):
        return NOT_MET
    return ND


@pytest.mark.parametrize("how, definition", [("all", kleene_all), ("any", kleene_any)])
def test_kleene_fold_matches_decisions_md(decider, how, definition):
    checked = 0
    for n in range(0, 5):
        for xs in itertools.product(STATUSES, repeat=n):
            assert decider.engine.combine(how, list(xs)) == definition(xs), (how, xs)
            checked += 1
    assert checked == 1 + 3 + 9 + 27 + 81


def test_kleene_not(decider):
    combine = decider.engine.combine
    assert combine("not", [MET]) == NOT_MET
    assert combine("not", [NOT_MET]) == MET
    assert combine("not", [ND]) == ND


def test_kleene_table_is_complete_in_the_kb():
    rows = query("kleene", "?H", "?A", "?B", "?O")
    table = {(h, a, b): o for h, a, b, o in rows}
    assert len(table) == len(rows)  # a function, no two results for one input
    for how in ("all", "any"):
        for a, b in itertools.product(STATUSES, repeat=2):
            assert (how, a, b) in table


def test_decision_is_kleene_any_over_candidate_pathways(decider):
    to_status = {"approve": MET, "refer": MET, "pend": ND, "deny": NOT_MET}
    for req in all_requests(decider):
        for payer, d in decider.engine.decide_many(req, ["centene", "cigna"]).items():
            over = kleene_any([d.status[w] for w in d.candidates])
            assert to_status[d.decision] == over, (req.id, payer)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_decisions(decider, name):
    answers = decider.answer(request(decider, name), "all")
    assert tuple(a.decision for a in answers) == EXPECTED[name]


def test_continuation_is_reviewed_under_section_I_only_when_new_to_the_plan(decider):
    """Reading 12: a Centene continuation whose II.A.1 is not met is a member new to therapy for this plan,
    reviewed under Section I too (criterion I.review of each Section I pathway); on the plan's benefit,
    Section I does not apply; while II.A.1 is not documented, Section I is at best not documented."""
    d = decider.engine.decide(request(decider, "continuation"), "centene")
    assert d.candidates == ["II.A", "II.B", "I.A", "I.B", "I.C", "I.D"]
    assert (d.decision, d.pathway) == ("approve", "II.A")
    assert (d.status["II.A.1"], d.status["I.review"]) == (MET, NOT_MET)
    assert all(d.status[w] == NOT_MET for w in ("I.A", "I.B", "I.C", "I.D"))
    full = dict(DOCS["nsclc-krazati"], id="E-new", request_type="continuation", prior_therapies=["carboplatin"])
    new = dict(full, continuation={"via_plan_benefit": False, "days_on_therapy": 10, "responding": True})
    d = decider.engine.decide(decider.parse(new, "n.yaml"), "centene")
    assert (d.status["II.A.1"], d.status["I.review"], d.status["II.A"]) == (NOT_MET, MET, NOT_MET)
    assert (d.decision, d.pathway, d.months) == ("approve", "I.A", 12)
    unknown = dict(full, continuation={"responding": True})
    d = decider.engine.decide(decider.parse(unknown, "u.yaml"), "centene")
    assert (d.status["II.A.1"], d.status["I.review"], d.status["I.A"]) == (ND, ND, ND)
    assert d.decision == "pend"
    d = decider.engine.decide(request(decider, "crc-vectibix"), "centene")
    assert d.candidates == ["I.A", "I.B", "I.C", "I.D"]
    assert d.status["I.review"] == MET


# --------------------------------------------------------------------------------------------------------
# Several payers, cleanliness, determinism
# --------------------------------------------------------------------------------------------------------


def test_decide_many_equals_separate_decisions(decider):
    engine, explainer = decider.engine, decider.explainer
    for req in all_requests(decider):
        together = engine.decide_many(req, ["centene", "cigna"])
        assert list(together) == ["centene", "cigna"]
        for payer in ("centene", "cigna"):
            alone = engine.decide(req, payer)
            both = together[payer]
            assert (both.decision, both.pathway, both.months, both.refer_to) == \
                (alone.decision, alone.pathway, alone.months, alone.refer_to), (req.id, payer)
            assert both.status == alone.status
            assert explainer.answer(both) == explainer.answer(alone)


def internal_facts():
    return {
        "request": query("request", "?R"),
        "request_date": query("request_date", "?R", "?D"),
        "value": query("value", "?R", "?F", "?V"),
        "item": query("item", "?R", "?F", "?I"),
        "listed": query("listed", "?R", "?F"),
    }


PLACEHOLDERS = {
    "request": [(0,)],
    "request_date": [(0, 0)],
    "value": [(0, "", "")],
    "item": [(0, "", "")],
    "listed": [(0, "")],
}


def test_no_facts_left_behind(decider):
    assert internal_facts() == PLACEHOLDERS
    for req in all_requests(decider):
        decider.answer(req, "all")
        decider.engine.decide(req, "cigna")
        assert internal_facts() == PLACEHOLDERS, req.id


def test_no_facts_left_behind_after_a_rejected_request(decider):
    req = decider.parse({"id": "no-lob", "diagnosis": NSCLC, "prior_therapies": ["carboplatin"]}, "n.yaml")
    with pytest.raises(RequestError) as info:
        decider.engine.decide_many(req, ["cigna", "centene"])
    assert info.value.field == "line_of_business"
    assert internal_facts() == PLACEHOLDERS


def test_facts_are_visible_while_deciding(decider, monkeypatch):
    """The check above can fail: during a decision the request's facts are there."""
    seen = {}
    original = decider.engine._derive

    def spy(req, payer, rows):
        seen[payer] = internal_facts()
        return original(req, payer, rows)

    monkeypatch.setattr(decider.engine, "_derive", spy)
    decider.engine.decide(request(decider, "crc-vectibix"), "cigna")
    assert len(seen["cigna"]["request"]) == 2
    assert any(f[1] == "medication.with" and f[2] == "vectibix" for f in seen["cigna"]["item"])


def test_same_request_twice_gives_identical_json(decider):
    for req in all_requests(decider):
        first = json.dumps([a.to_json() for a in decider.answer(req, "all")])
        for name in ("nsclc-unknown", "minor"):  # another request in between
            decider.answer(request(decider, name), "all")
        second = json.dumps([a.to_json() for a in decider.answer(req, "all")])
        assert first == second, req.id


def test_same_document_parsed_twice_gives_identical_json(decider):
    a = decider.answer(request(decider, "crc-vectibix"), "all")
    b = decider.answer(request(decider, "crc-vectibix"), "all")
    assert json.dumps([x.to_json() for x in a]) == json.dumps([x.to_json() for x in b])


def test_kb_is_parsed_once_per_decider(monkeypatch, tmp_path):
    """A kb is parsed and loaded once, then serves any number of requests; a second Decider on the same
    unchanged files in the same process is given the same loaded kb, and a changed file is loaded again."""
    copy = tmp_path / "kb"
    shutil.copytree(ROOT / "kb", copy)
    calls = []
    loads = []
    original_parse = kb_module.parse_text
    original_load = kb_module._load_rules
    monkeypatch.setenv("LUMAKRAS_CACHE", "off")  # parsed from the text every time it is loaded

    def counting_parse(*args, **kwargs):
        calls.append(args[0])
        return original_parse(*args, **kwargs)

    def counting_load(*args, **kwargs):
        loads.append(1)
        return original_load(*args, **kwargs)

    monkeypatch.setattr(kb_module, "parse_text", counting_parse)
    monkeypatch.setattr(kb_module, "_load_rules", counting_load)
    try:
        fresh = Decider([copy], today=TODAY)
        n_files = len(kb_files(fresh.kb.dirs))
        assert n_files > 5
        assert len(calls) == n_files
        # One load of the kb: pyDatalog is given what no request changes first (it is computed once and kept
        # as facts), then the rules that read the request (KnowledgeBase._load): two texts, once.
        assert len(loads) == 2
        docs = [dict(DOCS[name], id=f"{name}-{i}") for i in range(7) for name in DOCS][:50]
        assert len(docs) == 50
        for i, doc in enumerate(docs):
            fresh.answer(fresh.parse(doc, f"r{i}.yaml"), "all")
        assert len(calls) == n_files
        assert len(loads) == 2
        again = Decider([copy], today=TODAY)
        assert again.kb is fresh.kb and len(calls) == n_files and len(loads) == 2
        drugs = copy / "vocab" / "drugs.dl"
        drugs.write_text(drugs.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
        edited = Decider([copy], today=TODAY)
        assert edited.kb is not fresh.kb and len(calls) == 2 * n_files
    finally:
        monkeypatch.undo()
        shared_decider()


def test_shared_decider_decides_without_reloading(decider, monkeypatch):
    calls = []
    monkeypatch.setattr(kb_module, "parse_text", lambda *a, **k: calls.append(a) or [])
    monkeypatch.setattr(kb_module.pyDatalog, "load", lambda *a, **k: calls.append(a))
    for i in range(50):
        name = sorted(DOCS)[i % len(DOCS)]
        decider.answer(decider.parse(dict(DOCS[name], id=f"{name}-{i}"), "r.yaml"), "all")
    assert calls == []


# --------------------------------------------------------------------------------------------------------
# Explanations
# --------------------------------------------------------------------------------------------------------


def test_vectibix_explanation(decider):
    centene, cigna = decider.answer(request(decider, "crc-vectibix"), "all")
    assert centene.decision == "approve" and centene.pathway == "I.B"
    # Reading 14: I.B.6.a is the regimen sotorasib + Vectibix: the partner, and no other anticancer drug.
    assert find(centene, "I.B.6").because == ("met by I.B.6.a",)
    assert find(centene, "I.B.6.a").status == MET
    for answer, node in ((centene, "I.B.6.a"), (cigna, "2.D.i.vectibix")):
        assert find(answer, f"{node}.partner").because == \
            ("prescribed with sotorasib: Vectibix is panitumumab, an EGFR inhibitor",)
        assert find(answer, f"{node}.regimen").because == \
            ("prescribed with sotorasib: no anticancer drug besides panitumumab",)


def test_regimen_explanation(decider):
    centene, _ = decider.answer(request(decider, "crc-vectibix"), "all")
    because = find(centene, "I.B.5").because
    assert any("FOLFOX contains oxaliplatin" in b for b in because), because


def test_unknown_drug_explanation(decider):
    centene, cigna = decider.answer(request(decider, "nsclc-unknown"), "all")
    assert centene.decision == "pend"
    leaf = find(centene, "I.A.6")
    assert leaf.status == ND
    # Reading 16: an unrecognized entry may be any drug; the explanation says so and names the entry.
    unknown = "prior therapies: 'xyz' is not a name the vocabulary knows: it may be any drug"
    assert leaf.because == (unknown,)
    item = next(t for t in centene.to_document if t.criterion == "I.A.6")
    assert (item.criterion, item.field, item.name, item.because) == ("I.A.6", "prior_therapies", "xyz", unknown)
    assert "'xyz'" in item.question and "prior_therapies" in item.question
    assert find(cigna, "1.C").because == (unknown,)


def test_unknown_drug_keeps_its_written_name(decider):
    doc = dict(DOCS["nsclc-unknown"], prior_therapies=["Zorblimab XR"])
    centene, _ = decider.answer(decider.parse(doc, "z.yaml"), "all")
    assert find(centene, "I.A.6").because == \
        ("prior therapies: 'Zorblimab XR' is not a name the vocabulary knows: it may be any drug",)


def test_a_misspelt_drug_is_suggested_never_corrected(decider):
    doc = dict(DOCS["nsclc-unknown"], prior_therapies=["Krazatti"])
    centene, _ = decider.answer(decider.parse(doc, "k.yaml"), "all")
    assert centene.decision == "pend"
    for node in ("I.A.6", "I.A.7"):
        leaf = find(centene, node)
        assert leaf.status == ND
        [because] = leaf.because
        assert because.startswith("prior therapies: 'Krazatti' is not a name the vocabulary knows: it may be any")
        assert "did you mean krazati" in because.lower()


def test_krazati_explanation(decider):
    centene, _ = decider.answer(request(decider, "nsclc-krazati"), "all")
    leaf = find(centene, "I.A.7")
    assert leaf.status == NOT_MET
    assert any("Krazati is adagrasib" in b for b in leaf.because), leaf.because


def test_age_from_birth_date_is_explained(decider):
    doc = dict(DOCS["crc-vectibix"], member={"birth_date": "1961-05-02"})
    centene, _ = decider.answer(decider.parse(doc, "b.yaml"), "all")
    because = find(centene, "I.B.3").because
    assert because == ("member age is 64, at least 18 (born 1961-05-02, on 2026-03-01)",)


def test_refer_names_target_and_criterion(decider):
    centene, _ = decider.answer(request(decider, "minor"), "all")
    assert (centene.decision, centene.pathway, centene.refer_to, centene.refer_by) == \
        ("refer", "I.D", "CP.CPA.09", "I.D.2")
    assert [c.id for c in centene.criteria] == ["I.D.2"]
    assert find(centene, "I.A.3").status == NOT_MET  # the age puts the use outside Section I


@pytest.mark.parametrize("lob, target", [("commercial", "CP.CPA.09"), ("marketplace", "HIM.PA.154"),
                                         ("medicaid", "CP.PMN.53")])
def test_refer_target_per_line_of_business(decider, lob, target):
    doc = dict(DOCS["minor"], line_of_business=lob)
    assert decider.answer(decider.parse(doc, "m.yaml"), "centene")[0].refer_to == target


def test_every_criterion_entry_is_complete(decider):
    seen = 0
    for req in all_requests(decider):
        for answer in decider.answer(req, "all"):
            for c in all_entries(answer):
                seen += 1
                assert c.status in STATUSES
                assert isinstance(c.text, str) and c.text
                assert isinstance(c.because, tuple) and c.because, c
                for b in c.because:
                    assert isinstance(b, str) and b
                    assert not re.search(r"\{\w+\}", b), f"unfilled slot in {b!r}"
                    assert not b.startswith(f"{c.id}: {c.status} ("), f"no sentence in the kb: {b!r}"
            if answer.decision in ("approve", "refer"):
                assert answer.criteria and all(c.status == MET for c in answer.criteria)
                assert answer.closest == () and answer.to_document == ()
            else:
                assert answer.criteria == () and answer.closest
            if answer.decision == "pend":
                assert answer.to_document
    assert seen > 500


def test_closest_is_ordered_nearest_first(decider):
    for req in all_requests(decider):
        for answer in decider.answer(req, "all"):
            keys = [(p.not_met, p.not_documented) for p in answer.closest]
            assert keys == sorted(keys)
            for p in answer.closest:
                assert p.not_met == sum(c.status == NOT_MET for c in p.criteria)
                assert p.not_documented == sum(c.status == ND for c in p.criteria)


def _statement_lines(path: Path, cache: dict) -> set[int]:
    if path not in cache:
        cache[path] = {s.line for s in parse_file(path)}
    return cache[path]


def _resolve(display: str) -> Path:
    p = Path(display)
    if p.is_absolute():
        return p
    for base in (Path.cwd(), ROOT):
        if (base / p).exists():
            return base / p
    return ROOT / p


def test_rules_point_at_real_statements(decider):
    cache: dict = {}
    checked = set()
    for req in all_requests(decider):
        for answer in decider.answer(req, "all"):
            for c in all_entries(answer):
                assert c.rules, c.id
                for rule in c.rules:
                    m = re.fullmatch(r"(.+\.dl):(\d+)", rule)
                    assert m, rule
                    path = _resolve(m.group(1))
                    assert path.is_file(), rule
                    line = int(m.group(2))
                    lines = path.read_text(encoding="utf-8").splitlines()
                    assert 1 <= line <= len(lines), rule
                    assert line in _statement_lines(path, cache), f"{rule}: {lines[line - 1]!r} starts no statement"
                    checked.add(rule)
    assert len(checked) > 50


def test_leaf_rules_name_the_test_fact_and_the_leaf_rule(decider):
    centene, _ = decider.answer(request(decider, "crc-vectibix"), "all")
    leaf = find(centene, "I.B.3")
    test_fact, rule = leaf.rules
    path, line = test_fact.rsplit(":", 1)
    assert "test('centene', 'I.B.3', 'at_least'" in _resolve(path).read_text().splitlines()[int(line) - 1]
    path, line = rule.rsplit(":", 1)
    text = _resolve(path).read_text().splitlines()[int(line) - 1]
    assert text.startswith("leaf(R, P, N, 'met'") and "'at_least'" in text


def _derived(d) -> tuple:
    rows = {leaf: sorted((r.status, r.note, str(r.x), str(r.y), str(r.z)) for r in got) for leaf, got in d.rows.items()}
    return d.decision, d.pathway, d.months, d.refer_to, d.refer_by, d.status, rows, d.candidates, d.unknown


def _varied_requests(decider: Decider) -> list:
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    from bench import generate
    requests = [decider.parse(doc, f"generated-{i}") for i, doc in enumerate(generate(70, seed=11))]
    for path in sorted((ROOT / "queries").glob("*.yaml")):
        try:
            requests.append(load_request(path, decider.kb.payers(), TODAY))
        except RequestError:
            continue
    requests += [decider.parse(doc, name) for name, doc in DOCS.items()]
    return [r for r in requests if r.scalars.get("line_of_business")]  # Centene's policy requires it


def test_a_batch_derives_for_each_request_what_it_derives_alone() -> None:
    """Requests asked about together, the request number free, get what each gets asked alone (request
    number bound): rows, statuses, decision, duration, referral; in input order, batch after batch."""
    decider = shared_decider()
    assert not decider.kb.unbatchable
    items = [(r, list(decider.kb.payers())) for r in _varied_requests(decider)]
    assert len(items) > 2 * 16
    together = decider.engine.decide_batch(items)
    alone = [decider.engine.decide_many(r, payers) for r, payers in items]
    assert [{p: _derived(d) for p, d in got.items()} for got in together] == \
        [{p: _derived(d) for p, d in got.items()} for got in alone]
    assert {d.decision for got in together for d in got.values()} == {"approve", "deny", "pend", "refer"}


def test_a_kb_that_negates_before_binding_the_request_is_asked_one_request_at_a_time(tmp_path: Path) -> None:
    """A rule that negates a literal about the request before binding it would mix the requests of a batch:
    the kb names it (and `lumakras check` reports it), and the engine asks one request at a time."""
    kb_dir = tmp_path / "kb"
    shutil.copytree(ROOT / "kb", kb_dir)
    tests_dl = kb_dir / "engine" / "tests.dl"
    text = tests_dl.read_text(encoding="utf-8")
    bound = ("& may_in_class(R, F, I, C, Q, K) & ~has_in_class(R, F, C)")
    assert bound in text
    tests_dl.write_text(text.replace(bound, "& ~has_in_class(R, F, C) & may_in_class(R, F, I, C, Q, K)"),
                        encoding="utf-8")
    try:
        decider = Decider([kb_dir], today=TODAY)
        assert {(s.head, literal) for s, literal in decider.kb.unbatchable} == {("leaf", "~has_in_class")}
        items = [(r, list(decider.kb.payers())) for r in _varied_requests(decider)][:40]
        together = decider.engine.decide_batch(items)
        alone = [decider.engine.decide_many(r, payers) for r, payers in items]
        assert [{p: _derived(d) for p, d in got.items()} for got in together] == \
            [{p: _derived(d) for p, d in got.items()} for got in alone]
    finally:
        shared_decider().kb.activate()
