"""`lumakras serve`, in process (Starlette's TestClient): every example of queries/ is answered as the CLI
answers it, byte for byte (JSON, the HTML page, the text, the ClaimResponse); bad input is a 400, 422 or
413 with the CLI's one-line message and never a stack trace; the page and the questionnaire form decide.

The browser tests (tests/test_browser.py) drive the same service through a real browser."""

from __future__ import annotations

import html
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT, form_fields, shared_decider

from lumakras_logic.cli import main
from lumakras_logic.cli.common import Session
from lumakras_logic.core.api import Decider
from lumakras_logic.core.inputs import DEFAULT, limits
from lumakras_logic.core.request import request_files

starlette = pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from lumakras_logic.serve.app import build_app  # noqa: E402
from lumakras_logic.serve.config import ServeConfig  # noqa: E402

EXAMPLES = [p.relative_to(ROOT).as_posix() for p in request_files([ROOT / "queries"])]
DAY = "2026-03-01"


@pytest.fixture(scope="module")
def client(monkeypatch_module: pytest.MonkeyPatch) -> Any:
    monkeypatch_module.chdir(ROOT)  # the examples are named as the CLI is given them from the project's root
    with TestClient(build_app(ServeConfig(examples="queries")), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def cli(*args: str) -> Any:
    """`lumakras ARGS` in process, from the project's root, on the shared kb (loaded once per process)."""
    session = Session(loaded=Decider(kb=shared_decider().kb))
    return CliRunner().invoke(main, list(args), obj=session, catch_exceptions=False)


def post(client: Any, path: str, body: bytes, accept: str = "application/json", **params: Any) -> Any:
    return client.post(path, content=body, params=params, headers={"accept": accept})


def test_the_examples_are_all_there() -> None:
    kinds = {Path(e).suffix for e in EXAMPLES}
    assert {".yaml", ".json"} <= kinds and any(e.startswith("queries/fhir/") for e in EXAMPLES)
    assert len(EXAMPLES) > 50


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_is_decided_and_explained_as_the_cli_does(client: Any, example: str) -> None:
    """POST /decide gives decide --json's bytes, POST /why with Accept text/html why --format html's, and
    the page picking the example shows decide --json's text in its JSON block."""
    body = (ROOT / example).read_bytes()
    expected = cli("decide", example, "--payer", "all", "--json")
    got = post(client, "/decide", body, payer="all", source=example)
    assert got.status_code == 200 if expected.exit_code == 0 else got.status_code in (200, 422)
    assert got.text == expected.stdout
    assert got.headers["content-type"] == "application/json"

    page = cli("why", example, "--payer", "all", "--format", "html")
    got_html = post(client, "/why", body, accept="text/html", payer="all", source=example)
    assert got_html.text == page.stdout
    assert got_html.headers["content-type"].startswith("text/html")

    shown = client.post("/", data={"example": example, "payer": ["centene", "cigna"]})
    assert shown.status_code == 200
    block = re.search(r'<pre class="json" id="answer-json">(.*?)</pre>', shown.text, re.S)
    if expected.stdout:
        assert block is not None and html.unescape(block.group(1)) == expected.stdout
    for a in json.loads(expected.stdout or "[]"):
        assert f'data-payer="{a["payer"]}"' in shown.text


def test_one_payer_gives_one_object_as_the_cli_does(client: Any) -> None:
    example = "queries/centene-deny-prior-krazati.yaml"
    got = post(client, "/decide", (ROOT / example).read_bytes(), payer="centene", source=example)
    assert got.text == cli("decide", example, "--payer", "centene", "--json").stdout
    assert json.loads(got.text)["decision"] == "deny"


def test_text_and_fhir_by_accept(client: Any) -> None:
    example = "queries/both-pend-unknown-prior-therapy.yaml"
    body = (ROOT / example).read_bytes()
    assert post(client, "/why", body, "text/plain", payer="all", source=example).text == \
        cli("why", example, "--payer", "all").stdout
    assert post(client, "/decide", body, "text/plain", payer="all", source=example).text == \
        cli("decide", example, "--payer", "all").stdout
    fhir = post(client, "/decide", body, "application/fhir+json", payer="all", source=example)
    assert fhir.headers["content-type"] == "application/fhir+json"
    assert fhir.text == cli("decide", example, "--payer", "all", "--format", "fhir").stdout
    # a quality order: text/html preferred to JSON
    assert post(client, "/why", body, "application/json;q=0.5, text/html", payer="all",
                source=example).headers["content-type"].startswith("text/html")


def test_the_kind_of_body_by_content_type_suffix_or_text(client: Any) -> None:
    example = ROOT / "queries/both-approve-nsclc-generic-sotorasib.json"
    body = example.read_bytes()
    by_sniff = client.post("/decide", content=body, params={"payer": "all"})
    by_type = client.post("/decide", content=body, params={"payer": "all"},
                          headers={"content-type": "application/json"})
    assert by_sniff.status_code == by_type.status_code == 200
    assert [a["decision"] for a in by_sniff.json()] == [a["decision"] for a in by_type.json()] == ["approve", "approve"]
    # sent as YAML, a JSON text is still read (JSON is YAML); a YAML text sent as JSON is a 400
    yaml_body = (ROOT / "queries/both-deny-kras-negative.yaml").read_bytes()
    refused = client.post("/decide", content=yaml_body, headers={"content-type": "application/json"})
    assert refused.status_code == 400 and "not valid JSON" in refused.json()["error"]


# --- bad input: the CLI's one line, never a stack trace ----------------------------------------------


def _cli_lines(tmp_path: Path, name: str, text: str, *args: str) -> tuple[int, list[str]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    r = cli("decide", str(path), *args)
    return r.exit_code, [line.removeprefix("lumakras: ") for line in r.stderr.splitlines()]


@pytest.mark.parametrize(("text", "status"), [
    ("id: x\nmember: [\n", 400),  # not YAML
    ("id: x\nid: y\n", 400),  # a duplicate key
    ("id: x\ndate: 2026-02-30\npayer: cigna\n", 422),  # no such day
    ("id: x\ndate: 2026-03-01\npayer: cigna\nmember: {age: -3}\n", 422),
    ("id: x\ndate: 2026-03-01\npayer: cigna\nsurprise: 1\n", 422),  # an unknown field
    ("id: x\ndate: 2026-03-01\n", 422),  # no payer
])
def test_bad_input_is_a_4xx_with_the_cli_message(client: Any, tmp_path: Path, text: str, status: int) -> None:
    code, lines = _cli_lines(tmp_path, "bad.yaml", text)
    assert code == 2 and lines
    got = client.post("/decide", content=text.encode(), params={"source": str(tmp_path / "bad.yaml")})
    assert got.status_code == status
    assert got.json()["problems"] == lines and got.json()["error"] == lines[0]
    assert "Traceback" not in got.text
    as_text = client.post("/decide", content=text.encode(), params={"source": str(tmp_path / "bad.yaml")},
                          headers={"accept": "text/plain"})
    assert as_text.text.splitlines() == [f"lumakras: {line}" for line in lines]


def test_one_payer_refused_the_other_answered(client: Any) -> None:
    """Under --payer all, Centene cannot read a request without a line of business; Cigna answers. The
    CLI prints Cigna's answer and the error on stderr: the service answers 200 with the error in a header."""
    doc = yaml.safe_load((ROOT / "queries/cigna-deny-nsclc-kras-test-other.yaml").read_text())
    doc.pop("line_of_business", None)
    body = yaml.safe_dump(doc).encode()
    got = client.post("/decide", content=body, params={"payer": "all", "source": "no-lob.yaml"})
    assert got.status_code == 200
    assert [a["payer"] for a in got.json()] == ["cigna"]
    assert "line_of_business" in got.headers["lumakras-problem"]


def test_an_unknown_payer_is_a_400(client: Any) -> None:
    got = client.post("/decide", content=b"id: x\n", params={"payer": "aetna"})
    assert got.status_code == 400 and got.json()["error"].startswith("payer: unknown payer 'aetna'")


def test_a_body_past_the_limit_is_a_413_whether_its_length_is_told_or_not() -> None:
    small = ServeConfig(limits=ServeConfig().limits.__class__(max_bytes=1000), max_body=1000)
    with TestClient(build_app(small)) as c:
        big = b"#" * 200_000
        told = c.post("/decide", content=big)
        assert told.status_code == 413 and "larger than" in told.json()["error"]
        streamed = c.post("/decide", content=iter([big[:100_000], big[100_000:]]))  # chunked: no length
        assert streamed.status_code == 413
        within_room = c.post("/decide", content=b"#" * 5000)  # past --max-bytes, within a form's room
        assert within_room.status_code == 400 and "larger than 1,000 bytes (--max-bytes)" in within_room.json()["error"]
    assert limits() == DEFAULT  # an app's limits are its own: the process's are untouched


def test_html_errors_escape_what_came_in(client: Any) -> None:
    got = client.post("/decide", content=b"id: x\nsurprise<script>alert(1)</script>: 1\ndate: 2026-03-01\n",
                      params={"payer": "cigna", "source": "<b>evil</b>.yaml"}, headers={"accept": "text/html"})
    assert got.status_code == 422
    assert "<script>" not in got.text and "<b>evil" not in got.text
    assert "&lt;script&gt;" in got.text and "&lt;b&gt;evil&lt;/b&gt;.yaml" in got.text


def test_unknown_paths_methods_and_bad_forms_are_problems_too(client: Any) -> None:
    assert client.get("/nope").status_code == 404 and client.get("/nope").json()["status"] == 404
    assert client.get("/decide").json() == {"error": "GET is not served at /decide", "problems":
                                            ["GET is not served at /decide"], "status": 405}
    bad = client.post("/", content=b"garbage", headers={"content-type": "multipart/form-data; boundary=xx",
                                                         "accept": "text/html"})
    assert bad.status_code == 400 and "request: Invalid multipart data." in bad.text
    many = client.post("/", content=b"a=1&" * 100, headers={"content-type": "application/x-www-form-urlencoded"})
    assert many.status_code == 400 and "Too many fields" in many.json()["error"]


# --- the other routes ----------------------------------------------------------------------------------


def test_health_version_and_questionnaire(client: Any) -> None:
    assert client.get("/health").json() == {"status": "ok", "payers": ["centene", "cigna"], "worker": os.getpid()}
    version = client.get("/version").json()
    kb = shared_decider().kb
    assert version["kb_digest"] == kb.digest
    assert {p: v["kb_digest"] for p, v in version["payers"].items()} == {p: kb.payer_digest(p) for p in kb.payers()}
    answer = json.loads(cli("decide", "queries/centene-approve-nsclc-I.A.yaml", "--json").stdout)
    assert answer["provenance"]["kb_digest"] == version["payers"]["centene"]["kb_digest"]
    with TestClient(build_app(ServeConfig(today=DAY))) as dated:
        got = dated.get("/questionnaire/Cigna")
        assert got.headers["content-type"] == "application/fhir+json"
        assert got.text == cli("questionnaire", "--payer", "cigna", "--date", DAY).stdout
        assert dated.get("/questionnaire/aetna").status_code == 404


def test_every_response_forbids_scripts_and_framing(client: Any) -> None:
    for response in (client.get("/"), client.get("/health"), client.get("/form/cigna")):
        assert "script-src" not in response.headers["content-security-policy"]  # default-src 'none' covers it
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_concurrent_requests_are_all_answered_on_the_one_engine_thread(client: Any) -> None:
    examples = ["queries/both-deny-kras-negative.yaml", "queries/centene-approve-nsclc-I.A.yaml",
                "queries/both-pend-unknown-prior-therapy.yaml", "queries/fhir/both-approve-nsclc-pas.json"]
    expected = {e: cli("decide", e, "--payer", "all", "--json").stdout for e in examples}
    got: dict[int, tuple[str, str]] = {}

    def ask(i: int) -> None:
        e = examples[i % len(examples)]
        got[i] = (e, post(client, "/decide", (ROOT / e).read_bytes(), payer="all", source=e).text)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 24 and all(text == expected[e] for e, text in got.values())


# --- the page --------------------------------------------------------------------------------------------


def test_the_page_offers_the_examples_the_payers_and_the_forms(client: Any) -> None:
    page = client.get("/").text
    for e in EXAMPLES:
        assert f'<option value="{e}">' in page
    assert '<input type="checkbox" name="payer" value="centene" checked>' in page
    assert 'href="/form/cigna"' in page


def test_the_page_refuses_two_requests_at_once_and_none(client: Any) -> None:
    none = client.post("/", data={"payer": ["cigna"]})
    assert none.status_code == 400 and "none given" in none.text
    two = client.post("/", data={"request": "id: x", "example": EXAMPLES[0]})
    assert two.status_code == 400 and "pasted and example both given" in two.text
    unknown = client.post("/", data={"example": "../../etc/passwd"})
    assert unknown.status_code == 400 and "no example named" in unknown.text


def test_the_page_decides_a_pasted_and_an_uploaded_request(client: Any) -> None:
    example = "queries/fhir/both-pend-nsclc-stage-undocumented.json"
    text = (ROOT / example).read_text()
    pasted = client.post("/", data={"request": text, "payer": ["centene", "cigna"]})
    assert pasted.status_code == 200
    assert pasted.text.count('class="answer pend"') == 2 and "To decide, send" in pasted.text
    uploaded = client.post("/", files={"file": ("stage.json", text.encode(), "application/json")},
                           data={"payer": "cigna"})
    assert uploaded.status_code == 200 and uploaded.text.count('class="answer pend"') == 1
    assert "stage.json" in uploaded.text


@pytest.mark.parametrize(("example", "payer"), [("queries/centene-approve-nsclc-I.A.yaml", "centene"),
                                                ("queries/cigna-deny-nsclc-kras-test-other.yaml", "cigna"),
                                                ("queries/cigna-approve-crc-2-unable-to-tolerate-combination.yaml",
                                                 "cigna")])
def test_the_questionnaire_form_decides_as_the_request(client: Any, example: str, payer: str) -> None:
    doc = yaml.safe_load((ROOT / example).read_text())
    form = client.get(f"/form/{payer}").text
    fields = {k: v for k, v in form_fields(doc).items() if f'name="{k}"' in form}
    expected = json.loads(cli("decide", example, "--payer", payer, "--json").stdout)
    got = client.post(f"/form/{payer}", data=fields)
    assert got.status_code == 200, got.text
    shown = json.loads(html.unescape(re.search(r'<pre class="json" id="answer-json">(.*?)</pre>', got.text,
                                               re.S).group(1)))
    assert shown["decision"] == expected["decision"] and shown["pathway"] == expected["pathway"]
    assert [c["status"] for c in shown["criteria"]] == [c["status"] for c in expected["criteria"]]


def test_a_bad_form_answer_is_named_and_the_form_kept(client: Any) -> None:
    got = client.post("/form/centene", data={"member.age": "sixty", "diagnosis.condition": "nsclc"})
    assert got.status_code == 422
    assert "member.age: &#x27;sixty&#x27; is not a number" in got.text
    assert 'value="nsclc"' in got.text  # what was filled stays filled


# --- the OpenAPI description ----------------------------------------------------------------------------


def test_the_openapi_description_is_valid_current_and_covers_every_route(client: Any) -> None:
    from openapi_spec_validator import validate
    from starlette.routing import Route

    served = client.get("/openapi.json").json()
    validate(served)
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == served, "docs/openapi.json is stale: curl http://127.0.0.1:8549/openapi.json"
    routes = {r.path for r in client.app.routes if isinstance(r, Route)} - {"/", "/form/{payer}"}  # for people
    assert set(served["paths"]) == routes


def test_the_answers_are_what_the_description_says(client: Any) -> None:
    import jsonschema

    served = client.get("/openapi.json").json()
    responses = served["paths"]["/decide"]["post"]["responses"]
    schema = {**responses["200"]["content"]["application/json"]["schema"], "components": served["components"]}
    problem = {"$ref": "#/components/schemas/Problem", "components": served["components"]}
    for example in ("queries/both-pend-unknown-prior-therapy.yaml", "queries/fhir/both-approve-nsclc-pas.json"):
        body = (ROOT / example).read_bytes()
        jsonschema.validate(post(client, "/decide", body, payer="all", source=example).json(), schema)
        jsonschema.validate(post(client, "/decide", body, payer="cigna", source=example).json(), schema)
    jsonschema.validate(client.post("/decide", content=b"id: [").json(), problem)


def test_a_kb_that_cannot_load_stops_serve_before_it_listens(tmp_path: Path) -> None:
    from conftest import invoke

    (tmp_path / "broken.dl").write_text("this is not datalog(\n", encoding="utf-8")
    r = invoke("--kb", str(tmp_path), "serve", "--port", "1")  # port 1 would fail: it is never reached
    assert r.exit_code == 3
    broken = tmp_path / "broken.dl"
    assert r.stderr.strip() == f"lumakras: knowledge base: {broken}:1: unbalanced '(': statement never closed"
