"""Properties over generated valid requests (REQUESTS.md), checked with hypothesis.

(a) Never a crash: any valid request is decided and explained under both payers.
(b) Determinism: the same request decided twice gives the same JSON.
(c) Three-valued soundness (DECISIONS.md): removing documentation only moves criteria towards
    not_documented and decisions towards pend.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

from conftest import TODAY, shared_decider
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumakras_logic.request import RequestError

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
    assert [a["payer"] for a in answers] == payers_of(doc)
    for a in answers:
        assert a["request"] == doc["id"]
        assert a["decision"] in ("approve", "refer", "pend", "deny")
        assert (a["pathway"] is None) == (a["decision"] in ("pend", "deny"))
        assert (a["approval_months"] is not None) == (a["decision"] == "approve")
        assert bool(a["to_document"]) == (a["decision"] == "pend")
        json.dumps(a)
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
    first = json.dumps(decider.answer(decider.parse(doc, "g.yaml"), payer), sort_keys=True)
    second = json.dumps(decider.answer(decider.parse(copy.deepcopy(doc), "g.yaml"), payer), sort_keys=True)
    assert first == second


@SETTINGS
@given(generated())
def test_removing_documentation_only_moves_towards_pend(doc):
    decider = shared_decider()
    engine = decider.engine
    payers = payers_of(doc)
    before = engine.decide_many(decider.parse(doc, "g.yaml"), payers)
    for path in documentation_fields(doc):
        smaller = without(doc, path)
        after = engine.decide_many(decider.parse(smaller, "g.yaml"), payers)
        for payer in payers:
            b, a = before[payer], after[payer]
            assert a.status.keys() == b.status.keys()
            moved = {n: (b.status[n], a.status[n]) for n in b.status
                     if a.status[n] not in ALLOWED_STATUS[b.status[n]]}
            assert not moved, f"{payer}: removing {'.'.join(path)} from {doc}: {moved}"
            assert a.decision in ALLOWED_DECISION[b.decision], \
                f"{payer}: removing {'.'.join(path)} from {doc}: {b.decision} -> {a.decision}"


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
