"""`lumakras compare --format html`: the page says what the comparison says, opens on where the payers part
ways, stands alone (no script, nothing fetched) and shows a request's strings as text, never as markup.

Every expectation is read from the same requests' `--json` comparison; the page is parsed with the standard
library's html.parser into a small tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import ROOT, TODAY

from lumakras_logic.cli import main

QUERIES = ROOT / "queries"
# Requests where the payers part ways: on a test (Centene asks nothing), on two rows with an alternative Cigna
# did not need, on a referral, on a diagnosis.
PARTING = ["cigna-deny-nsclc-kras-test-other.yaml", "cigna-approve-crc-2-unable-to-tolerate-combination.yaml",
           "centene-refer-dose-over-960-without-evidence-medicaid.yaml",
           "centene-approve-appendiceal-adenocarcinoma-I.B.yaml"]
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        """The text a reader sees, whitespace collapsed (entities already decoded by the parser)."""
        return " ".join("".join(c if isinstance(c, str) else c.text() for c in self.children).split())

    def all(self, tag: str, **attrs: str) -> list[Node]:
        """Every descendant element named `tag` whose attributes include `attrs` (class_ matches one class)."""
        out: list[Node] = []
        for c in self.children:
            if isinstance(c, Node):
                if c.tag == tag and all(_has(c, k, v) for k, v in attrs.items()):
                    out.append(c)
                out += c.all(tag, **attrs)
        return out

    def kids(self, tag: str) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node) and c.tag == tag]

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


def _has(node: Node, key: str, value: str) -> bool:
    if key == "class_":
        return value in node.classes()
    return node.attrs.get(key.replace("_", "-")) == value


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.starts: list[str] = []  # every start tag, in order
        self.attributes: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append(tag)
        self.attributes += [(tag, k, v) for k, v in attrs]
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> _Tree:
    tree = _Tree()
    tree.feed(page)
    tree.close()
    assert tree.stack == [tree.root], "an element is left open"
    return tree


def run(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, ["compare", *map(str, args), "--today", TODAY.isoformat()])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def compared(*paths: Path) -> tuple[list[dict[str, Any]], str]:
    """The JSON comparison and the HTML page of the same requests."""
    as_json, as_html = run(*paths, "--json"), run(*paths, "--format", "html")
    assert as_json.exit_code == 0 and as_html.exit_code == 0, (as_json.stderr, as_html.stderr)
    return json.loads(as_json.stdout), as_html.stdout


def section(tree: _Tree, request: str) -> Node:
    [found] = tree.root.all("section", class_="comparison", data_request=request)
    return found


def columns(sec: Node) -> list[str]:
    """The payers in column order, from the table's head ("centene (CP.PHAR.549)")."""
    [thead] = sec.all("thead")
    return [th.text().split(" ")[0] for th in thead.all("th")[2:]]


def payer_cells(tr: Node) -> list[Node]:
    return tr.kids("td")[1:]  # the first is the mark


@pytest.fixture(scope="module", params=PARTING)
def example(request: pytest.FixtureRequest) -> tuple[dict[str, Any], Node, str]:
    [c], page = compared(QUERIES / request.param)
    return c, section(parse(page), c["request"]), page


def test_the_page_holds_each_payers_answer(example):
    c, sec, _page = example
    assert sec.kids("h2")[0].text() == c["request"]
    assert c["source"] in sec.text() and c["date"] in sec.text()
    payers = columns(sec)
    assert payers == list(c["payers"])
    [answers] = sec.all("tbody", class_="answers")
    by_field = {tr.attrs["data-field"]: tr for tr in answers.kids("tr")}
    for i, payer in enumerate(payers):
        a = c["payers"][payer]
        assert payer_cells(by_field["decision"])[i].text() == a["decision"].upper()
        assert payer_cells(by_field["decision"])[i].all("span", class_=a["decision"])
        pathway = payer_cells(by_field["pathway"])[i].text()
        assert pathway.startswith(f"{a['pathway']}: ") if a["pathway"] else pathway == "—"
        months = payer_cells(by_field["approval_months"])[i].text()
        assert months == (f"{a['approval_months']} months" if a["approval_months"] is not None else "—")
        assert payer_cells(by_field["refer_to"])[i].text() == (a["refer_to"] or "—")
        assert all(f["pathway"] in payer_cells(by_field["focus"])[i].text() for f in a["focus"])
    # the fields that differ are marked ≠, the others not
    for name, tr in by_field.items():
        assert ("differs" in tr.classes()) == (name in c["differs"])
        assert tr.kids("td")[0].text() == ("≠" if name in c["differs"] else "")


def concept_rows(sec: Node) -> list[Node]:
    return [tr for tr in sec.all("tr") if "data-concept" in tr.attrs]


def test_parting_rows_come_first_each_with_its_sentence(example):
    c, sec, _page = example
    assert any(r["kind"] == "differs" for r in c["rows"])
    rows = concept_rows(sec)
    assert [(tr.attrs["data-concept"], tr.attrs["class"]) for tr in rows] == \
        [(r["concept"], r["kind"]) for r in c["rows"]]  # the JSON's order: parting rows first
    marks = {"differs": "≠", "one_sided": "◦", "agrees": "="}
    for tr, r in zip(rows, c["rows"], strict=True):
        assert tr.kids("td")[0].text() == marks[r["kind"]] and tr.kids("th")[0].text() == r["label"]
    # each parting row is followed by its sentence, and no other row has one
    trs = [tr for tr in sec.all("tr") if "data-concept" in tr.attrs or "why" in tr.classes()]
    sentences = {trs[i - 1].attrs.get("data-concept"): tr.text() for i, tr in enumerate(trs) if "why" in tr.classes()}
    assert sentences == {r["concept"]: " ".join(r["why"].split()) for r in c["rows"] if r["kind"] == "differs"}
    # each group under its heading, with its count
    for kind in ("differs", "one_sided", "agrees"):
        n = sum(r["kind"] == kind for r in c["rows"])
        groups = sec.all("tbody", class_=kind)
        assert len(groups) == (1 if n else 0)
        if n:
            assert groups[0].all("tr", class_="group")[0].text().endswith(f"({n})")


def test_every_criterion_and_fact_is_in_its_payers_column(example):
    c, sec, _page = example
    payers = columns(sec)
    for tr, r in zip(concept_rows(sec), c["rows"], strict=True):
        for i, payer in enumerate(payers):
            td = payer_cells(tr)[i]
            shown = td.all("details")
            cells, unneeded = r["cells"][payer], r["not_needed"].get(payer) or []
            if unneeded:
                assert [d.attrs["data-criterion"] for d in shown] == [u["id"] for u in unneeded]
                for d, u in zip(shown, unneeded, strict=True):
                    assert u["text"] in d.text() and u["within"] in d.text()
                    assert all(m in d.text() for m in u["met_by"])
                continue
            assert [d.attrs["data-criterion"] for d in shown] == [cell["id"] for cell in cells]
            if not cells:
                assert td.text() == "— no criterion"
            for d, cell in zip(shown, cells, strict=True):
                [summary] = d.kids("summary")
                assert summary.all("code")[0].text() == cell["id"]
                assert summary.text().endswith(" ".join(cell["text"].split()))
                assert summary.all("span", class_="status")[0].classes() == {"status", cell["status"]}
                facts = [li.text() for li in d.all("li")]
                assert facts == [" ".join(b.split()) for b in cell["because"]]


def test_criteria_are_open_where_the_payers_part_ways_and_folded_elsewhere(example):
    c, sec, _page = example
    opened = {"differs": 0, "other": 0}
    for tr, r in zip(concept_rows(sec), c["rows"], strict=True):
        for d in tr.all("details"):
            assert ("open" in d.attrs) == (r["kind"] == "differs"), (r["concept"], d.attrs)
            opened["differs" if r["kind"] == "differs" else "other"] += 1
    assert opened["differs"] and opened["other"]  # both kinds of row were seen


def test_the_page_stands_alone_without_script(example):
    _c, _sec, page = example
    tree = parse(page)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "script" not in tree.starts and "<script" not in page.lower()
    assert not [(t, k, v) for t, k, v in tree.attributes if k in ("src", "href", "action", "data", "srcset")]
    assert not [(t, k, v) for t, k, v in tree.attributes if k.startswith("on")]
    assert "http://" not in page and "https://" not in page and "url(" not in page
    [csp] = [n for n in tree.root.all("meta") if n.attrs.get("http-equiv") == "Content-Security-Policy"]
    policy = csp.attrs["content"] or ""
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert [n.attrs.get("charset") for n in tree.root.all("meta") if "charset" in n.attrs] == ["utf-8"]


def test_a_requests_markup_is_shown_escaped_never_as_tags(tmp_path: Path):
    doc = yaml.safe_load((QUERIES / "cigna-deny-nsclc-kras-test-other.yaml").read_text(encoding="utf-8"))
    doc["id"] = "<script>alert(1)</script>"
    doc["prior_therapies"] = [*doc["prior_therapies"], "<img src=x onerror=alert(1)>"]
    path = tmp_path / "markup.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    [c], page = compared(path)
    tree = parse(page)
    assert tree.starts.count("script") == 0 and "img" not in tree.starts
    assert not [k for _t, k, _v in tree.attributes if k.startswith("on") or k == "src"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert" in page
    sec = section(tree, doc["id"])  # the id is the section's attribute and heading, as text
    assert sec.kids("h2")[0].text() == doc["id"]
    # the entry reaches the facts (the vocabulary does not know it) and is shown there as text
    facts = [b for r in c["rows"] for cells in r["cells"].values() for cell in cells for b in cell["because"]
             if "<img" in b]
    assert facts
    shown = [li.text() for li in sec.all("li")]
    assert all(" ".join(b.split()) in shown for b in facts)


def test_an_unreadable_request_is_named_and_the_others_are_on_the_page(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: X\nmember: {age: -3}\n", encoding="utf-8")
    good = [QUERIES / "centene-deny-prior-krazati.yaml", QUERIES / "cigna-deny-nsclc-kras-test-other.yaml"]
    result = run(good[0], bad, good[1], "--format", "html")
    assert result.exit_code == 2
    [error] = result.stderr.strip().splitlines()
    assert str(bad) in error and "member.age" in error
    data, _page = compared(*good)
    tree = parse(result.stdout)
    assert [s.attrs["data-request"] for s in tree.root.all("section", class_="comparison")] == \
        [c["request"] for c in data]
    assert result.stdout.count("<!DOCTYPE html>") == 1 and result.stdout.rstrip().endswith("</html>")


def test_a_payer_that_cannot_read_the_request_shows_its_error_in_its_column(tmp_path: Path):
    doc = yaml.safe_load((QUERIES / "centene-approve-nsclc-I.A.yaml").read_text(encoding="utf-8"))
    doc.pop("line_of_business")
    path = tmp_path / "nolob.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    [c], page = compared(path)
    sec = section(parse(page), c["request"])
    payers = columns(sec)
    failing = [p for p, a in c["payers"].items() if a["error"]]
    assert failing and len(failing) < len(payers)
    [decision] = [tr for tr in sec.all("tr") if tr.attrs.get("data-field") == "decision"]
    for i, payer in enumerate(payers):
        td = payer_cells(decision)[i]
        error = c["payers"][payer]["error"]
        assert (td.text() == error and td.all("span", class_="error")) if error else \
            td.text() == c["payers"][payer]["decision"].upper()
        for tr in concept_rows(sec):
            assert (payer_cells(tr)[i].text() == "(cannot decide)") == bool(error)
