"""The package's shape holds (README, "How the code is organized"): core never imports a ring or a face,
the rings (authoring, analysis) never import a face (cli, serve), and the service never imports the command
line. And a decision pays only for what it uses: `lumakras decide` imports neither the service's packages
nor the HTML renderer."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT, modules_imported_by

PACKAGE = ROOT / "lumakras_logic"
# what each part may not import
FORBIDDEN = {"core": {"authoring", "analysis", "cli", "serve"}, "authoring": {"cli", "serve"},
             "analysis": {"cli", "serve"}, "serve": {"cli", "authoring"}}


def _imports(path: Path) -> set[str]:
    """The parts of lumakras_logic a module imports (relative or absolute)."""
    part = path.relative_to(PACKAGE).parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # from ..x import y: resolved against the module's package
                base = list(part[:-1])[: len(part) - node.level]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [target] if node.module else [[*base, a.name] for a in node.names]
            elif node.module and node.module.startswith("lumakras_logic."):
                names = [node.module.split(".")[1:]]
            else:
                continue
            found |= {n[0] for n in names if n}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("lumakras_logic.")}
    return found


def test_no_part_imports_what_sits_outside_it() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0]
        bad = _imports(path) & FORBIDDEN.get(part, set())
        if bad:
            wrong.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert wrong == []


def test_a_decision_imports_no_service_and_no_html() -> None:
    loaded = modules_imported_by(["decide", "queries/both-deny-kras-negative.yaml", "--payer", "all"])
    assert "lumakras_logic.core.api" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("starlette", "uvicorn", "multipart", "httpx2")
                or m.startswith(("lumakras_logic.core.html", "lumakras_logic.serve"))]
