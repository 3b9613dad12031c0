"""The page, used as a person uses it: `lumakras serve` started on a loopback port, a real headless browser
(Playwright driving Debian's chromium-headless-shell, installed by scripts/install-browser.sh) picks,
pastes and uploads requests, fills a payer's questionnaire, expands the tree, and reads what is shown. A
request whose strings are HTML and script is shown as text, and nothing of it runs.

Without the browser these tests are skipped, unless LUMAKRAS_REQUIRE_BROWSER=1 (CI), where they fail."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, form_fields, invoke

BROWSER = Path(os.environ.get("LUMAKRAS_CHROMIUM", "/usr/bin/chromium-headless-shell"))
REQUIRED = os.environ.get("LUMAKRAS_REQUIRE_BROWSER") == "1"
if not BROWSER.exists():
    if REQUIRED:
        raise RuntimeError(f"{BROWSER} is missing: run scripts/install-browser.sh (LUMAKRAS_REQUIRE_BROWSER=1)")
    pytest.skip(f"{BROWSER} is missing (scripts/install-browser.sh installs it)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")

# Chromium as root in a sandbox-less container, with nothing reaching out to Google's hosts.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`lumakras serve` in its own process, as a person starts it, on a free loopback port."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as sink:  # a file, not a pipe: a full pipe would stop the server
        proc = subprocess.Popen([sys.executable, "-m", "lumakras_logic", "serve", "--port", str(port),
                                 "--examples", "queries"], cwd=ROOT, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if json.load(r)["status"] == "ok":
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"lumakras serve did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]  # no request made the server fail


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(BROWSER), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records every dialog (alert, confirm) and every console error."""
    context = browser.new_context()
    pg = context.new_page()
    pg.dialogs = []
    pg.errors = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def cli_json(*args: str) -> Any:
    r = invoke("decide", *args, "--json")
    return json.loads(r.stdout)


def is_open(pg: Any, selector: str) -> bool:
    return pg.eval_on_selector(selector, "el => el.open")


def decide_example(pg: Any, service: str, example: str) -> None:
    pg.goto(service + "/")
    pg.select_option("#example", example)
    pg.click("#decide")
    pg.wait_for_selector("#results")


def test_picking_an_example_shows_each_decision_and_the_tree_opens_where_it_decided(page: Any, service: str,
                                                                                  monkeypatch: Any) -> None:
    monkeypatch.chdir(ROOT)
    example = "queries/centene-deny-prior-krazati.yaml"
    expected = {a["payer"]: a for a in cli_json(example, "--payer", "all")}
    decide_example(page, service, example)
    for payer, a in expected.items():
        article = f'article[data-payer="{payer}"]'
        assert page.inner_text(f"{article} .decision") == a["decision"].upper()
    centene = 'article[data-payer="centene"]'
    # a deny is a recommendation for a clinical reviewer, with its reason
    assert "A recommendation to deny, for a clinical reviewer" in page.inner_text(f"{centene} .recommendation")
    assert "I.A.7" in page.inner_text(f"{centene} .recommendation")
    near = expected["centene"]["closest"][0]
    nearest = f'{centene} details.pathway[data-pathway="{near["pathway"]}"]'
    assert is_open(page, nearest)
    for c in near["criteria"]:  # open along what decided (not met), folded where met
        assert is_open(page, f'{nearest} > details[data-criterion="{c["id"]}"]') == (c["status"] == "not_met")
    # expand a folded criterion: its facts and rules show
    met = next(c for c in near["criteria"] if c["status"] == "met" and not c.get("parts"))
    folded = f'{nearest} > details[data-criterion="{met["id"]}"]'
    assert not page.is_visible(f"{folded} .rules")
    page.click(f"{folded} > summary")
    assert is_open(page, folded) and page.is_visible(f"{folded} .rules")
    assert met["rules"][0] in page.inner_text(f"{folded} .rules")
    # a folded pathway opens on a click, with its criteria
    other = next(p for p in expected["centene"]["closest"][1:] if not p["other_diagnosis"])
    folded_pathway = f'{centene} details.pathway[data-pathway="{other["pathway"]}"]'
    assert not is_open(page, folded_pathway)
    page.click(f"{folded_pathway} > summary")
    assert page.is_visible(f'{folded_pathway} > details[data-criterion="{other["criteria"][0]["id"]}"] > summary')
    assert page.dialogs == [] and page.errors == []


@pytest.mark.parametrize("example", ["queries/both-pend-unknown-prior-therapy.yaml",
                                     "queries/both-approve-nsclc-generic-sotorasib.json",
                                     "queries/fhir/both-approve-nsclc-pas.json",
                                     "queries/centene-refer-gastric-I.D-commercial.yaml"])
def test_the_json_shown_is_the_clis_byte_for_byte(page: Any, service: str, example: str, monkeypatch: Any) -> None:
    monkeypatch.chdir(ROOT)
    decide_example(page, service, example)
    page.click("details.json > summary")
    assert page.text_content("#answer-json") == invoke("decide", example, "--payer", "all", "--json").stdout


def test_a_pend_says_what_to_send(page: Any, service: str, monkeypatch: Any) -> None:
    monkeypatch.chdir(ROOT)
    example = "queries/both-pend-unknown-prior-therapy.yaml"
    decide_example(page, service, example)
    for a in cli_json(example, "--payer", "all"):
        send = page.inner_text(f'article[data-payer="{a["payer"]}"] .send')
        assert send.startswith("To decide, send")
        for t in a["to_document"]:
            assert t["field"] in send and t["text"] in send


def test_a_pasted_fhir_bundle_for_one_payer(page: Any, service: str, monkeypatch: Any) -> None:
    monkeypatch.chdir(ROOT)
    example = ROOT / "queries/fhir/both-deny-nsclc-kras-absent.json"
    page.goto(service + "/")
    page.fill("#request", example.read_text())
    page.uncheck('input[name="payer"][value="centene"]')
    page.click("#decide")
    page.wait_for_selector("#results")
    assert page.locator("article.answer").count() == 1
    expected = cli_json(str(example), "--payer", "cigna")
    assert page.inner_text('article[data-payer="cigna"] .decision') == expected["decision"].upper()
    assert page.input_value("#request") == example.read_text()  # what was pasted stays, to be edited


def test_an_uploaded_file(page: Any, service: str) -> None:
    example = ROOT / "queries/cigna-approve-nsclc-1-prescribed-by-pulmonologist.yaml"
    page.goto(service + "/")
    page.set_input_files("#file", str(example))
    page.click("#decide")
    page.wait_for_selector("#results")
    assert "the uploaded file cigna-approve-nsclc-1-prescribed-by-pulmonologist.yaml" in page.inner_text("#results h2")
    for a in cli_json(str(example), "--payer", "all"):
        assert page.inner_text(f'article[data-payer="{a["payer"]}"] .decision') == a["decision"].upper()


def fill_form(page: Any, fields: dict[str, Any]) -> None:
    """Fill each field the form asks, as a person would: pick from a list, tick boxes, type."""
    for name, value in fields.items():
        control = page.locator(f'[name="{name}"]')
        if not control.count():
            continue
        kind = control.first.evaluate("e => e.tagName + ':' + (e.type || '')")
        if kind.startswith("SELECT"):
            control.select_option(str(value))
        elif kind in ("INPUT:checkbox", "INPUT:radio"):
            for v in value if isinstance(value, list) else [value]:
                page.check(f'input[name="{name}"][value="{v}"]')
        else:
            control.fill(str(value))


@pytest.mark.parametrize(("example", "payer"), [("queries/cigna-approve-crc-2-unable-to-tolerate-combination.yaml",
                                                 "cigna"),
                                                ("queries/centene-deny-prior-krazati.yaml", "centene")])
def test_the_questionnaire_as_a_form(page: Any, service: str, example: str, payer: str) -> None:
    """A person answers a payer's questionnaire by hand: the answer is the CLI's for the same facts."""
    doc = yaml.safe_load((ROOT / example).read_text())
    page.goto(service + "/")
    page.click(f'a[href="/form/{payer}"]')
    assert "a blank answer is not documented, never a no" in page.inner_text("body")
    fill_form(page, form_fields(doc))
    page.click("#decide")
    page.wait_for_selector("#results")
    expected = cli_json(str(ROOT / example), "--payer", payer)
    shown = page.inner_text(f'article[data-payer="{payer}"] .decision')
    assert shown == expected["decision"].upper(), page.inner_text("#results")
    shown_json = json.loads(page.text_content("#answer-json"))
    assert shown_json["pathway"] == expected["pathway"]
    assert [c["id"] for c in shown_json["criteria"]] == [c["id"] for c in expected["criteria"]]


def test_strings_that_are_html_and_script_are_shown_and_never_run(page: Any, service: str) -> None:
    evil = {
        "id": "<script>window.__pwned = 1; alert('id')</script>",
        "date": "2026-03-01",
        "line_of_business": "commercial",
        "member": {"age": 60},
        "diagnosis": {"condition": "\"><svg onload=\"window.__pwned=3;alert('svg')\">", "disease_state": ["metastatic"],
                      "kras_g12c": "positive"},
        # (no parentheses: the drug-list reader splits a name at them, into parts that are still text)
        "prior_therapies": ["<img src=x onerror=\"window.__pwned=2\">", "carboplatin"],
        "medication": {"product": "lumakras", "dose_mg_per_day": 960,
                       "with": ["</textarea><script>alert('with')</script>"]},
    }
    text = yaml.safe_dump(evil, allow_unicode=True) + "# a tab:\there, kept as it is by the textarea\n"
    page.goto(service + "/")
    page.fill("#request", text)
    page.click("#decide")
    page.wait_for_selector("#results")
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert page.locator("#results script, #results img, #results svg").count() == 0
    results = page.inner_text("#results")
    assert evil["id"] in results  # shown, as text
    assert evil["prior_therapies"][0] in results
    assert page.input_value("#request") == text  # the textarea held it as text, unbroken
    assert page.errors == []  # not even a blocked script: nothing tried to run


def test_the_why_page_stands_alone_and_prints(page: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """why --format html: opened from a file it fetches nothing, opens along what decided, and prints."""
    monkeypatch.chdir(ROOT)
    example = "queries/both-pend-unknown-prior-therapy.yaml"
    out = tmp_path / "why.html"
    out.write_text(invoke("why", example, "--payer", "all", "--format", "html").stdout, encoding="utf-8")
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(out.as_uri())
    assert fetched == [out.as_uri()]
    for a in cli_json(example, "--payer", "all"):
        near = a["closest"][0]
        for c in near["criteria"]:
            selector = (f'article[data-payer="{a["payer"]}"] details.pathway[data-pathway="{near["pathway"]}"] > '
                        f'details[data-criterion="{c["id"]}"]')
            assert is_open(page, selector) == (c["status"] == "not_documented")
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000


def test_bad_input_is_one_line_on_the_page(page: Any, service: str) -> None:
    page.goto(service + "/")
    page.fill("#request", "id: x\nmember: [\n")
    page.click("#decide")
    page.wait_for_selector("#results")
    shown = page.inner_text("#results .error")
    assert shown.startswith("lumakras: pasted request: not valid YAML") and "\n" not in shown.strip()
    assert "Traceback" not in page.content()
