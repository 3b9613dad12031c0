"""`why --format html`: one self-contained page per request, for every example: no script, nothing fetched,
every criterion of the answer with its status, the tree open exactly along what decided, a deny labelled as
a recommendation for a clinical reviewer, a pend's facts to send, and every string of a request escaped."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, invoke

from lumakras_logic.core.html import CSP, DECIDING, why_page
from lumakras_logic.core.request import load_request, request_files

EXAMPLES = [p for p in request_files([ROOT / "queries"])]
ACTIVE = {"script", "iframe", "object", "embed", "img", "svg", "link", "base", "form", "input", "video", "audio"}


class Page(HTMLParser):
    """The elements of a page, each with its attributes and whether it is inside a <details open>."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, **having: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in having.items())]


def crit_pairs(criteria: list[dict[str, Any]]) -> set[tuple[str, str]]:
    out = set()
    for c in criteria:
        out.add((c["id"], c["status"]))
        out |= crit_pairs(c.get("parts", []))
    return out


def answers_of(decider: Any, path: Path) -> list[Any]:
    return decider.answer(load_request(path, decider.kb.payers(), decider.today, decider.kb), "all")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_example_is_one_self_contained_page_open_along_what_decided(decider: Any, path: Path) -> None:
    answers = answers_of(decider, path)
    text = why_page(answers)
    page = Page(text)
    assert not ACTIVE & {t for t, _a in page.elements}
    assert all(not k.startswith("on") for _t, a in page.elements for k in a)
    assert not [a for _t, a in page.elements if "src" in a or ("href" in a and not str(a["href"]).startswith("#"))]
    assert page.all("meta", **{"http-equiv": "Content-Security-Policy"})[0]["content"] == CSP
    for a in answers:
        j = a.to_json()
        assert page.all("article", **{"data-payer": a.payer})
        assert f"class=\"decision {a.decision}\"" in text
        shown = {(str(d["data-criterion"]), str(d["class"]).split()[1]) for _t, d in page.elements
                 if _t == "details" and "data-criterion" in d}
        tree = crit_pairs(j["criteria"]) | {pair for p in j["closest"] for pair in crit_pairs(p["criteria"])}
        assert tree <= shown
        if a.decision == "deny":
            assert "A recommendation to deny, for a clinical reviewer" in text
        if a.decision == "pend":
            for t in a.to_document:
                assert f"<code>{html.escape(t.field)}</code>" in text
    # the tree is open exactly along what decided: each criterion opens when its status decided its answer
    article = None
    for tag, attrs in page.elements:
        if tag == "article":
            article = next(a for a in answers if a.payer == attrs["data-payer"])
        if tag == "details" and "data-criterion" in attrs:
            status = str(attrs["class"]).split()[1]
            assert ("open" in attrs) == (status == DECIDING[article.decision]), attrs


def test_the_nearest_pathway_is_open_the_others_folded(decider: Any) -> None:
    answers = answers_of(decider, ROOT / "queries/centene-deny-prior-krazati.yaml")
    page = Page(why_page(answers[:1], nearest=1))
    pathways = page.all("details", **{"class": "pathway"})
    assert [("open" in p) for p in pathways] == [True] + [False] * (len(pathways) - 1)
    assert pathways[0]["data-pathway"] == answers[0].closest[0].pathway
    # past --nearest, and for another diagnosis: folded under their own headings, nothing left out
    assert page.all("details", **{"class": "more"}) or page.all("details", **{"class": "other-diagnosis"})
    assert {p["data-pathway"] for p in pathways} == {c.pathway for c in answers[0].closest}


def test_the_cli_writes_the_page(decider: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    example = "queries/both-pend-unknown-prior-therapy.yaml"
    r = invoke("why", example, "--payer", "all", "--format", "html")
    assert r.exit_code == 0 and r.stdout.startswith("<!DOCTYPE html>")
    decided = json.loads(invoke("decide", example, "--payer", "all", "--json").stdout)
    assert [a["payer"] for a in decided] == [a["data-payer"] for a in Page(r.stdout).all("article")]
    bare = invoke("why", example, "--payer", "all", "--format", "html", "--no-rules").stdout
    assert 'class="rules"' in r.stdout and 'class="rules"' not in bare
    bad = invoke("why", "queries/no-such.yaml", "--format", "html")
    assert bad.exit_code == 2 and bad.stdout == "" and "no such file" in bad.stderr


def test_strings_from_the_request_are_text(decider: Any, tmp_path: Path) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text(
        'id: "<script>alert(1)</script>\\u202eEVIL"\n'
        "date: 2026-03-01\nline_of_business: commercial\nmember: {age: 60}\n"
        "diagnosis: {condition: '\"><svg onload=alert(1)>', disease_state: [metastatic], kras_g12c: positive}\n"
        "prior_therapies: ['<img src=x onerror=alert`1`>', carboplatin]\n", encoding="utf-8")
    answers = answers_of(decider, evil)
    text = why_page(answers)
    page = Page(text)
    assert not ACTIVE & {t for t, _a in page.elements}
    assert all(not k.startswith("on") for _t, a in page.elements for k in a)
    words = "".join(page.text)
    assert "<script>alert(1)</script>\\u202eEVIL" in words  # shown as written, the bidi override escaped
    assert "\u202e" not in text
    assert "<img src=x onerror=alert`1`>" in words
