"""Properties over generated valid requests (REQUESTS.md), checked with hypothesis.

(a) Never a crash: any valid request is decided and explained under both payers.
(b) Determinism: the same request decided twice gives the same JSON.
(c) Three-valued soundness (DECISIONS.md): removing documentation only moves criteria towards
    not_documented and decisions towards pend.
(d) The soundness of names (readings 16, 17): naming less (a drug's class, an unrecognized string, an
    organ-level diagnosis) does the same.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import os
from dataclasses import dataclass

import pytest
from conftest import TODAY, shared_decider
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lumakras_logic.core.names import split_entry
from lumakras_logic.core.request import RequestError, name_key, token_key

pytestmark = pytest.mark.slow  # hypothesis over generated requests

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KNOWN_DRUGS = [
    "carboplatin", "cisplatin", "pemetrexed", "Keytruda", "pembrolizumab", "nivolumab", "docetaxel",
    "Krazati", "adagrasib", "Vectibix", "panitumumab", "Erbitux", "cetuximab", "bevacizumab",
    "FOLFOX", "CAPEOX", "FOLFIRI", "FOLFIRINOX", "capecitabine", "fluorouracil", "5-FU", "oxaliplatin",
    "irinotecan", "gemcitabine", "leucovorin", "Lumakras", "sotorasib", "osimertinib", "Tagrisso",
    "erlotinib", "radiation",
]
UNKNOWN_DRUGS = ["xyz", "Zorblimab XR", "x'), evil(('"]
CLASSES = ["egfr_inhibitor", "chemotherapy"]
SPECIALTIES = ["oncology", "medical oncology", "hematology_oncology", "Hem/Onc", "pulmonology", "family medicine"]

# What defines the request rather than documents it (DECISIONS.md, "Decisions").
DEFINING = {"id", "date", "payer", "line_of_business", "request_type", "requested_months",
            "continuation.new_dose_mg_per_day"}

def weighted(favoured: list, others: list) -> st.SearchStrategy:
    """Values from an enumeration, the ones that meet criteria more often (so that approvals, denials and
    referrals are generated, not only pends)."""
    return st.sampled_from(favoured * 3 + others)


CONDITION = weighted(["nsclc", "colorectal", "ampullary_adenocarcinoma", "pancreatic_adenocarcinoma",
                      "small_bowel_adenocarcinoma"], ["colon", "Rectal", "melanoma", "gastric cancer",
                                                      "Non-Small Cell Lung Cancer"])
STATES = st.lists(weighted(["metastatic", "locally_advanced"], ["advanced", "recurrent",
                                                                "recurrent_after_resection"]),
                  max_size=3, unique=True)
PRIOR = st.lists(weighted(["carboplatin", "FOLFOX", "Keytruda", "gemcitabine"], KNOWN_DRUGS + UNKNOWN_DRUGS),
                 max_size=4)
WITH = st.lists(weighted(["Vectibix", "Erbitux"], KNOWN_DRUGS + UNKNOWN_DRUGS), max_size=2)
INTOLERANT = st.lists(weighted(["egfr_inhibitor", "Erbitux"], KNOWN_DRUGS + UNKNOWN_DRUGS + CLASSES), max_size=3)


def yes_mostly() -> st.SearchStrategy:
    return st.sampled_from([True, True, True, False])


@st.composite
def requests(draw) -> dict:
    """A valid request document: every field present or absent; a 'complete' one has most fields."""
    complete = draw(st.booleans())

    def fields(spec: dict) -> dict:
        out = {}
        for key, strategy in spec.items():
            if draw(st.integers(0, 9)) < (9 if complete else 5):
                out[key] = draw(strategy)
        return out

    doc: dict = {"id": f"H-{draw(st.integers(0, 10**6))}"}
    date = draw(st.none() | st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)))
    if date is not None:
        doc["date"] = date.isoformat()
    doc.update(fields({
        "payer": st.sampled_from(["centene", "cigna"]),
        "line_of_business": st.sampled_from(["commercial", "medicaid", "marketplace"]),
        "request_type": st.sampled_from(["initial", "initial", "continuation"]),
        "requested_months": st.integers(1, 24),
        "prior_therapies": PRIOR,
        "intolerant_to": INTOLERANT,
        "unable_to_tolerate_combination": yes_mostly(),
    }))

    member = {}
    age = draw(st.none() | st.integers(10, 90))
    if age is not None:
        how = draw(st.sampled_from(["age", "birth_date", "both"]))
        on = date or TODAY
        born = dt.date(on.year - age, 1, 1)  # on or after 1 January: the age is on.year - born.year
        if how in ("age", "both"):
            member["age"] = age
        if how in ("birth_date", "both"):
            member["birth_date"] = born.isoformat()
    if member or draw(st.booleans()):
        doc["member"] = member

    sections = {
        "diagnosis": {
            "condition": CONDITION,
            "disease_state": STATES,
            "kras_g12c": st.sampled_from(["positive", "positive", "positive", "negative"]),
            "kras_test": st.sampled_from(["fda_approved", "fda_approved", "other"]),
        },
        "prescriber": {
            "specialty": st.sampled_from(SPECIALTIES),
            "oncologist_consulted": yes_mostly(),
        },
        "medication": {
            "product": st.sampled_from(["lumakras", "sotorasib"]),
            "dose_mg_per_day": st.sampled_from([960, 960, 720, 480]) | st.integers(120, 1500),
            "with": st.just([]) | WITH,
            "dose_evidence": yes_mostly(),
            "generic_unsuitable": st.booleans(),
        },
        "continuation": {
            "via_plan_benefit": yes_mostly(),
            "days_on_therapy": st.integers(0, 400),
            "responding": yes_mostly(),
            "new_dose_mg_per_day": st.integers(120, 1500),
        },
    }
    for name, spec in sections.items():
        if draw(st.integers(0, 9)) > 0:  # a section is mostly present, sometimes absent
            doc[name] = fields(spec)
    return doc


TEMPLATE_BASE = {
    "member": {"age": 64},
    "prescriber": {"specialty": "oncology"},
    "medication": {"product": "lumakras", "dose_mg_per_day": 960, "with": []},
    "continuation": {"via_plan_benefit": True, "responding": True, "days_on_therapy": 90},
}
TEMPLATES = {  # a request each pathway approves; perturbed below
    "nsclc": {"diagnosis": {"condition": "nsclc", "disease_state": ["metastatic"], "kras_g12c": "positive",
                            "kras_test": "fda_approved"},
              "prior_therapies": ["carboplatin", "pemetrexed", "Keytruda"]},
    "colorectal": {"diagnosis": {"condition": "colorectal", "disease_state": ["metastatic"],
                                 "kras_g12c": "positive", "kras_test": "fda_approved"},
                   "medication": {"product": "lumakras", "dose_mg_per_day": 960, "with": ["Vectibix"]},
                   "prior_therapies": ["FOLFOX"]},
    "ampullary": {"diagnosis": {"condition": "ampullary_adenocarcinoma", "disease_state": ["metastatic"],
                                "kras_g12c": "positive", "kras_test": "fda_approved"},
                  "prior_therapies": ["FOLFOX"]},
    "pancreatic": {"diagnosis": {"condition": "pancreatic_adenocarcinoma", "disease_state": ["locally_advanced"],
                                 "kras_g12c": "positive", "kras_test": "fda_approved"},
                   "prior_therapies": ["gemcitabine"]},
    "small_bowel": {"diagnosis": {"condition": "small_bowel_adenocarcinoma", "disease_state": ["metastatic"],
                                  "kras_g12c": "positive", "kras_test": "fda_approved"},
                    "prior_therapies": ["FOLFOX"]},
}
FIELDS = {
    ("line_of_business",): st.sampled_from(["commercial", "medicaid", "marketplace"]),
    ("requested_months",): st.integers(1, 24),
    ("prior_therapies",): PRIOR,
    ("intolerant_to",): INTOLERANT,
    ("unable_to_tolerate_combination",): st.booleans(),
    ("member", "age"): st.integers(10, 90),
    ("diagnosis", "condition"): CONDITION,
    ("diagnosis", "disease_state"): STATES,
    ("diagnosis", "kras_g12c"): st.sampled_from(["positive", "negative"]),
    ("diagnosis", "kras_test"): st.sampled_from(["fda_approved", "other"]),
    ("prescriber", "specialty"): st.sampled_from(SPECIALTIES),
    ("prescriber", "oncologist_consulted"): st.booleans(),
    ("medication", "product"): st.sampled_from(["lumakras", "sotorasib"]),
    ("medication", "dose_mg_per_day"): st.integers(120, 1500),
    ("medication", "with"): WITH,
    ("medication", "dose_evidence"): st.booleans(),
    ("medication", "generic_unsuitable"): st.booleans(),
    ("continuation", "via_plan_benefit"): st.booleans(),
    ("continuation", "days_on_therapy"): st.integers(0, 400),
    ("continuation", "responding"): st.booleans(),
    ("continuation", "new_dose_mg_per_day"): st.integers(120, 1500),
}


@st.composite
def near_approval(draw) -> dict:
    """An approving request of some pathway, with up to three fields removed or changed."""
    doc = copy.deepcopy(TEMPLATE_BASE)
    for key, value in copy.deepcopy(TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))]).items():
        doc[key] = value
    doc["id"] = f"N-{draw(st.integers(0, 10**6))}"
    doc["date"] = draw(st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31))).isoformat()
    doc["line_of_business"] = draw(st.sampled_from(["commercial", "medicaid", "marketplace"]))
    doc["request_type"] = draw(st.sampled_from(["initial", "initial", "continuation"]))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(sorted(FIELDS)))
        target = doc
        for key in path[:-1]:
            target = target.setdefault(key, {})
        if draw(st.booleans()):
            target.pop(path[-1], None)
        else:
            target[path[-1]] = draw(FIELDS[path])
    return doc


def generated() -> st.SearchStrategy:
    return st.one_of(requests(), near_approval())


def payers_of(doc: dict) -> list[str]:
    return ["centene", "cigna"] if "line_of_business" in doc else ["cigna"]


def documentation_fields(doc: dict) -> list[tuple[str, ...]]:
    """Paths that can be removed as documentation: one field, or a whole section with no defining field."""
    out: list[tuple[str, ...]] = []
    for key, value in doc.items():
        if key in DEFINING:
            continue
        if isinstance(value, dict):
            inner = [(key, k) for k in value if f"{key}.{k}" not in DEFINING]
            out += inner
            if not any(f"{key}.{k}" in DEFINING for k in value):
                out.append((key,))
        else:
            out.append((key,))
    return out


def without(doc: dict, path: tuple[str, ...]) -> dict:
    out = copy.deepcopy(doc)
    if len(path) == 1:
        del out[path[0]]
    else:
        del out[path[0]][path[1]]
    return out


ALLOWED_STATUS = {
    "met": {"met", "not_documented"},
    "not_met": {"not_met", "not_documented"},
    "not_documented": {"not_documented"},
}
ALLOWED_DECISION = {
    "approve": {"approve", "pend"},
    "deny": {"deny", "pend"},
    "refer": {"refer", "pend"},
    "pend": {"pend"},
}


# --------------------------------------------------------------------------------------------------------


@SETTINGS
@given(generated())
def test_never_a_crash(doc):
    decider = shared_decider()
    req = decider.parse(doc, "generated.yaml")
    answers = decider.answer(req, "all" if "line_of_business" in doc else "cigna")
    assert [a.payer for a in answers] == payers_of(doc)
    for a in answers:
        assert a.request == doc["id"]
        assert a.decision in ("approve", "refer", "pend", "deny")
        assert (a.pathway is None) == (a.decision in ("pend", "deny"))
        assert (a.approval_months is not None) == (a.decision == "approve")
        assert bool(a.to_document) == (a.decision == "pend")
        json.dumps(a.to_json())
    if "line_of_business" not in doc:
        try:
            decider.answer(req, "centene")
        except RequestError as exc:
            assert exc.field == "line_of_business"
        else:
            raise AssertionError("Centene answered a request without a line of business")


@SETTINGS
@given(generated())
def test_decision_is_the_kleene_any_of_the_candidate_pathways(doc):
    decider = shared_decider()
    as_status = {"approve": "met", "refer": "met", "pend": "not_documented", "deny": "not_met"}
    for payer, d in decider.engine.decide_many(decider.parse(doc, "g.yaml"), payers_of(doc)).items():
        assert as_status[d.decision] == decider.engine.combine("any", [d.status[w] for w in d.candidates]), payer
        if d.pathway is not None:
            assert d.status[d.pathway] == "met"
            node = decider.kb.node(payer, d.pathway)
            if node.how == "all":
                assert all(d.status[p] == "met" for p in node.parts)


@SETTINGS
@given(generated())
def test_same_json_twice(doc):
    decider = shared_decider()
    payer = "all" if "line_of_business" in doc else "cigna"
    first = json.dumps([a.to_json() for a in decider.answer(decider.parse(doc, "g.yaml"), payer)])
    second = json.dumps([a.to_json() for a in decider.answer(decider.parse(copy.deepcopy(doc), "g.yaml"), payer)])
    assert first == second


def removed_fields(doc: dict, path: tuple[str, ...]) -> set[str]:
    """The dotted fields that removing `path` takes out of the request (a whole section: each of its fields)."""
    value = doc[path[0]] if len(path) == 1 else None
    if isinstance(value, dict):
        return {path[0], *(f"{path[0]}.{k}" for k in value)}
    return {".".join(path)}


def absent_leaves(payer: str, fields: set[str]) -> set[str]:
    """The payer's leaves that test that one of these fields is absent (kind 'absent', kb/engine/tests.dl)."""
    kb = shared_decider().kb
    return {n for (p, n), node in kb.nodes.items()
            if p == payer and node.test is not None and node.test[0] == "absent" and node.test[1] in fields}


def refolded(payer: str, status: dict[str, str], replaced: dict[str, str]) -> dict[str, str]:
    """The statuses `status` with the leaves of `replaced` set to those values, every node above folded again
    by its combination (kb/engine/kleene.dl), as the engine folds them."""
    decider = shared_decider()
    kb, engine = decider.kb, decider.engine
    out: dict[str, str] = dict(replaced)

    def walk(n: str) -> str:
        if n not in out:
            node = kb.node(payer, n)
            out[n] = status[n] if node.test is not None else \
                engine.combine(node.how or "all", [walk(part) for part in node.parts])
        return out[n]

    for n in status:
        walk(n)
    return out


@SETTINGS
@given(generated())
def test_removing_documentation_only_moves_towards_pend(doc):
    """(c). A field that is documentation for most criteria may also, with another, define the request
    (DECISIONS.md, "Decisions": medication.dose_mg_per_day with continuation.new_dose_mg_per_day makes it a
    dose-increase request or not), read by a leaf of kind 'absent' (II.A.3.no_increase.current_dose.absent).
    Such a leaf may flip when the field is removed; so the statuses are compared with those the request had
    with exactly those leaves flipped and the nodes above them folded again: every node must move from there
    only towards not_documented, and the decision only towards pend."""
    decider = shared_decider()
    engine = decider.engine
    payers = payers_of(doc)
    before = engine.decide_many(decider.parse(doc, "g.yaml"), payers)
    for payer in payers:  # the refolding is the engine's own folding
        assert refolded(payer, before[payer].status, {}) == before[payer].status
    for path in documentation_fields(doc):
        smaller = without(doc, path)
        after = engine.decide_many(decider.parse(smaller, "g.yaml"), payers)
        for payer in payers:
            b, a = before[payer], after[payer]
            assert a.status.keys() == b.status.keys()
            flipped = {n: a.status[n] for n in absent_leaves(payer, removed_fields(doc, path))}
            expected = refolded(payer, b.status, flipped)
            moved = {n: (b.status[n], expected[n], a.status[n]) for n in b.status
                     if a.status[n] not in ALLOWED_STATUS[expected[n]]}
            assert not moved, f"{payer}: removing {'.'.join(path)} from {doc}: {moved}"
            decision = b.decision if expected == b.status else engine.conclude(payer, b.candidates, expected)[0]
            assert a.decision in ALLOWED_DECISION[decision], \
                f"{payer}: removing {'.'.join(path)} from {doc}: {b.decision} ({decision}) -> {a.decision}"


@SETTINGS
@given(generated())
def test_without_documentation_every_decision_is_pend(doc):
    """The floor of (c): with every documentation field gone, only pend is left (DECISIONS.md reading 16:
    with no condition given, every pathway of either payer is not_documented)."""
    decider = shared_decider()
    bare = {k: v for k, v in doc.items() if k in DEFINING}
    if "new_dose_mg_per_day" in doc.get("continuation", {}):
        bare["continuation"] = {"new_dose_mg_per_day": doc["continuation"]["new_dose_mg_per_day"]}
    for payer, d in decider.engine.decide_many(decider.parse(bare, "g.yaml"), payers_of(doc)).items():
        assert d.decision == "pend", (payer, bare)


# --------------------------------------------------------------------------------------------------------
# (d) The soundness of names (DECISIONS.md readings 16 and 17)
# --------------------------------------------------------------------------------------------------------
# A request that names less than another (a drug's class instead of the drug, a string the vocabulary does
# not know instead of a name, an organ instead of the specific diagnosis) can only be answered with less
# certainty: every criterion moves only towards not_documented and every decision only towards pend.

DRUG_LISTS = (("prior_therapies",), ("medication", "with"), ("intolerant_to",))
UNKNOWN_CONDITIONS = ["zorbitoma", "Stage IV zorbitoma of the qux", "xq-17 carcinoma"]
# Hypothesis draws fresh examples each run (not derandomized), so the runs add up to thousands of requests;
# LUMAKRAS_NAMES_EXAMPLES sets how many one run draws (a failure prints the blob that reproduces it).
NAMES_SETTINGS = settings(max_examples=int(os.environ.get("LUMAKRAS_NAMES_EXAMPLES", "350")), deadline=None,
                          derandomize=False, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much])


@dataclass(frozen=True)
class Vocabulary:
    """What the kb's vocabulary says, read once: the tables the replacements are drawn from."""

    drug_of: dict[str, str]  # a name (name key) that names exactly one drug -> the drug
    drug_names: list[str]  # every such name, to add to a list
    class_forms: dict[str, list[str]]  # a drug's class -> the ways it is written that name that class alone
    classes_of: dict[str, list[str]]  # drug -> its classes (its own and every wider one), with a written form
    ambiguous_of: dict[str, list[str]]  # drug -> the names that may be it or another drug (ambiguous_name)
    universal: frozenset[str]  # the drug lists in which a class name covers every drug of the class
    known: frozenset[str]  # every name the vocabulary knows
    organs_of: dict[str, list[str]]  # condition -> the organ-level conditions that may be it
    condition_forms: dict[str, list[str]]  # organ-level condition -> its id and the names written for it
    named_with_organ: list[str]  # the conditions some organ-level condition may be
    aliases: dict  # (field, token key) -> the vocabulary's value (KnowledgeBase.value_aliases)

    def condition(self, written: str) -> str:
        key = token_key(str(written))
        return self.aliases.get(("diagnosis.condition", key), key)

    def single_part(self, text: str) -> bool:
        """The loader reads the text as one part (it is not split into several names)."""
        return [name_key(p) for p in split_entry(text, self.known.__contains__)] == [name_key(text)]


@functools.lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    kb = shared_decider().kb
    named: dict[str, set[str]] = {}
    for n, d in kb.ask("names_drug", "?N", "?D"):
        named.setdefault(n, set()).add(d)
    other_names = {n for (n, _g) in kb.ask("names_regimen", "?N", "?G")} | \
        {n for (n, _d) in kb.ask("ambiguous_name", "?N", "?D")}
    drug_of = {n: next(iter(ds)) for n, ds in named.items() if len(ds) == 1 and n not in other_names}
    known = frozenset(kb.known_names)
    names_class: dict[str, set[str]] = {}
    for n, c in kb.ask("names_class", "?N", "?C"):
        names_class.setdefault(n, set()).add(c)
    written: dict[str, set[str]] = {}
    for n, c in kb.ask("names_class", "?N", "?C"):
        written.setdefault(c, set()).add(n)
    for c, label in kb.ask("class_label", "?C", "?L"):
        written.setdefault(c, set()).add(label)
    vocab = Vocabulary(drug_of, sorted(drug_of), {}, {}, {},
                       frozenset(f for (f,) in kb.ask("universal_list", "?F")), known, {}, {}, [], kb.value_aliases)
    for n, d in kb.ask("ambiguous_name", "?N", "?D"):
        if vocab.single_part(n):
            vocab.ambiguous_of.setdefault(d, []).append(n)
    for c, forms in written.items():
        # A written form names that class and nothing else, or nothing the vocabulary knows (then it is an
        # unrecognized entry, which may be anything: vaguer still); and the loader does not split it.
        ok = sorted(w for w in forms if vocab.single_part(w) and (
            name_key(w) not in known or (names_class.get(name_key(w)) == {c} and name_key(w) not in named
                                         and name_key(w) not in other_names)))
        if ok:
            vocab.class_forms[c] = ok
    for d, c in kb.ask("drug_in_class", "?D", "?C"):
        if c in vocab.class_forms:
            vocab.classes_of.setdefault(d, []).append(c)
    for table in (vocab.classes_of, vocab.ambiguous_of):
        for d in table:
            table[d].sort()
    for organ, named_id in kb.ask("condition_may_be", "?O", "?N"):
        if organ and named_id:
            vocab.organs_of.setdefault(named_id, []).append(organ)
            vocab.condition_forms.setdefault(organ, [organ])
    for (field_name, key), value in kb.value_aliases.items():
        if field_name == "diagnosis.condition" and value in vocab.condition_forms and key != value:
            vocab.condition_forms[value].append(key.replace("_", " "))
    for forms in (*vocab.organs_of.values(), *vocab.condition_forms.values()):
        forms.sort()
    vocab.named_with_organ.extend(sorted(vocab.organs_of))
    for w in UNKNOWN_CONDITIONS:
        assert vocab.condition(w) == token_key(w) and token_key(w) not in kb.condition_labels, w
    return vocab


UNKNOWN_NAMES = st.sampled_from(UNKNOWN_DRUGS) | \
    st.text("bcdfghjklmnpqrstvwxz", min_size=2, max_size=8).map(lambda s: "zz" + s)


def drug_list(doc: dict, path: tuple[str, ...], create: bool = False) -> list | None:
    target = doc
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            if not create:
                return None
            target[key] = {}
        target = target[key]
    if create:
        target.setdefault(path[-1], [])
    return target.get(path[-1])


@st.composite
def vaguer_requests(draw) -> tuple[dict, dict, list[str]]:
    """A generated request, and the same request with one to three of its names made vaguer: a drug-list
    entry that is a drug of the vocabulary replaced by one of its classes (written as the kb writes it; not in
    a list where a class name is universal, intolerant_to, since there it says more) or by a name that may be
    it or another drug (ambiguous_name), any entry replaced by an unrecognized string, a diagnosis replaced by
    an organ-level condition that may be it, or by an unrecognized string."""
    vocab = vocabulary()
    doc = copy.deepcopy(draw(generated()))
    if draw(st.integers(0, 2)) == 0:  # a specific condition that an organ-level one may be
        doc.setdefault("diagnosis", {})["condition"] = draw(st.sampled_from(vocab.named_with_organ))
    if draw(st.integers(0, 2)) == 0:  # any drug of the vocabulary, in one of the lists
        drug_list(doc, draw(st.sampled_from(DRUG_LISTS)), create=True).append(draw(st.sampled_from(vocab.drug_names)))
    assert "histology" not in doc.get("diagnosis", {})  # with a histology, an organ-level name is not vaguer
    options: list[tuple[tuple[str, ...], int]] = [
        (path, i) for path in DRUG_LISTS for i in range(len(drug_list(doc, path) or []))]
    if "condition" in doc.get("diagnosis", {}):
        options.append((("diagnosis", "condition"), -1))
    if not options:
        drug_list(doc, ("prior_therapies",), create=True).append(draw(st.sampled_from(vocab.drug_names)))
        options.append((("prior_therapies",), 0))
    after = copy.deepcopy(doc)
    said: list[str] = []
    for path, i in draw(st.lists(st.sampled_from(options), min_size=1, max_size=3, unique=True)):
        if i < 0:
            written = doc["diagnosis"]["condition"]
            organs = vocab.organs_of.get(vocab.condition(written), [])
            if organs and draw(st.integers(0, 3)) > 0:
                new = draw(st.sampled_from(vocab.condition_forms[draw(st.sampled_from(organs))]))
            else:
                new = draw(st.sampled_from(UNKNOWN_CONDITIONS))
            after["diagnosis"]["condition"] = new
            said.append(f"diagnosis.condition {written!r} -> {new!r}")
            continue
        entry = drug_list(doc, path)[i]
        drug = vocab.drug_of.get(name_key(entry)) if isinstance(entry, str) else None
        field_name = ".".join(path)
        if drug in vocab.ambiguous_of and draw(st.integers(0, 2)) > 0:
            new = draw(st.sampled_from(vocab.ambiguous_of[drug]))
        elif drug in vocab.classes_of and field_name not in vocab.universal and draw(st.integers(0, 3)) > 0:
            new = draw(st.sampled_from(vocab.class_forms[draw(st.sampled_from(vocab.classes_of[drug]))]))
        else:
            new = draw(UNKNOWN_NAMES.filter(lambda s: name_key(s) not in vocab.known))
        drug_list(after, path)[i] = new
        said.append(f"{field_name}[{i}] {entry!r} -> {new!r}")
    return doc, after, said


def _named(changes: dict[tuple[str, ...], object], base: str = "colorectal") -> tuple[dict, dict, list[str]]:
    """An approving request of TEMPLATES, and the same with the values at these paths replaced."""
    before = copy.deepcopy(TEMPLATE_BASE)
    before.update(copy.deepcopy(TEMPLATES[base]))
    before.update(id="N-names", date="2026-03-01", line_of_business="commercial")
    after = copy.deepcopy(before)
    for path, (old, new) in changes.items():
        for doc, value in ((before, old), (after, new)):
            target = doc
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = value
    return before, after, [f"{'.'.join(p)} {o!r} -> {n!r}" for p, (o, n) in changes.items()]


@NAMES_SETTINGS
@given(vaguer_requests())
# Sotorasib itself, named by its class in medication.with, may be another KRAS G12C inhibitor (I.B.6.a.regimen).
@example(_named({("medication", "with"): (["Vectibix", "Lumakras"], ["Vectibix", "KRAS G12C inhibitor"])}))
# An unnamed KRAS G12C inhibitor among the prior therapies may be sotorasib itself (I.A.6).
@example(_named({("prior_therapies",): (["Krazati"], ["KRAS G12C inhibitor"])}, "nsclc"))
# 'aflibercept' may be Zaltrap (ziv-aflibercept, anticancer) or Eylea (not): the regimen is not documented.
@example(_named({("medication", "with"): (["Vectibix", "Zaltrap"], ["Vectibix", "aflibercept"])}))
# An organ without its histology (reading 17); Centene reads appendiceal adenocarcinoma as CRC.
@example(_named({("diagnosis", "condition"): ("nsclc", "lung cancer")}, "nsclc"))
@example(_named({("diagnosis", "condition"): ("appendiceal adenocarcinoma", "appendiceal cancer")}))
def test_naming_less_only_moves_towards_pend(pair):
    """(d) DECISIONS.md reading 16: "a criterion is met only on what the request certainly says": a class name
    is an unnamed member of the class, which may be any drug of it (and, in a class that holds sotorasib,
    sotorasib itself); an unrecognized entry may be anything. Reading 17: an organ-level condition may be each
    condition it may be; an unrecognized one may be any. So naming less never makes a criterion met or not
    met that was not, nor a decision approve, refer or deny that was not."""
    before_doc, after_doc, said = pair
    decider = shared_decider()
    engine = decider.engine
    payers = payers_of(before_doc)
    before = engine.decide_many(decider.parse(before_doc, "g.yaml"), payers)
    after = engine.decide_many(decider.parse(after_doc, "g.yaml"), payers)
    for payer in payers:
        b, a = before[payer], after[payer]
        moved = {n: (b.status[n], a.status[n]) for n in b.status if a.status[n] not in ALLOWED_STATUS[b.status[n]]}
        assert not moved, f"{payer}: {'; '.join(said)} in {before_doc}: {moved}"
        assert a.decision in ALLOWED_DECISION[b.decision], \
            f"{payer}: {'; '.join(said)} in {before_doc}: {b.decision} -> {a.decision}"
