"""The package as users install it: the wheel, built from this checkout and installed in a fresh virtual
environment, carries the shipped kb, scenarios and examples, and decides, explains and checks from a
folder that has nothing of the checkout; its answers are byte for byte those of the checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

REQUEST = ROOT / "queries" / "centene-deny-prior-krazati.yaml"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv with the wheel installed (its dependencies from the registry)."""
    base = tmp_path_factory.mktemp("package")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(base / "dist")],
                   check=True, timeout=600)
    [wheel] = (base / "dist").glob("lumakras_logic-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("kb/engine/tests.dl", "kb/payers/centene/initial.dl", "scenarios/", "queries/"):
        assert any(n.startswith(f"lumakras_logic/shipped/{shipped}") for n in names), shipped
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=300)
    bin_dir = base / "venv" / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=900)
    return bin_dir


def test_the_installed_wheel_decides_explains_and_checks_from_any_folder(installed: Path, tmp_path: Path) -> None:
    away = tmp_path / "elsewhere"
    away.mkdir()
    request = away / "request.yaml"
    shutil.copy(REQUEST, request)

    def lumakras(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(installed / "lumakras"), *args], cwd=away, capture_output=True, text=True,
                              timeout=300)

    decided = lumakras("decide", "request.yaml", "--payer", "all", "--json")
    assert decided.returncode == 0, decided.stderr
    here = subprocess.run([sys.executable, "-m", "lumakras_logic", "decide", str(request), "--payer", "all",
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert here.returncode == 0, here.stderr
    installed_answers, checkout_answers = json.loads(decided.stdout), json.loads(here.stdout)
    for a in (*installed_answers, *checkout_answers):
        a["provenance"].pop("request_source")  # the one path that names where the request was read
    assert installed_answers == checkout_answers  # the same kb, shown as kb/... wherever it lies
    assert [(a["payer"], a["decision"]) for a in installed_answers][0] == ("centene", "deny")

    why = lumakras("why", "request.yaml", "--payer", "centene")
    assert why.returncode == 0 and "DENY" in why.stdout and "Krazati" in why.stdout, why.stderr
    checked = lumakras("check")
    assert checked.returncode == 0 and checked.stdout.startswith("kb/: no problems"), checked.stdout
    module = subprocess.run([str(installed / "python"), "-m", "lumakras_logic", "--version"], cwd=away,
                            capture_output=True, text=True, timeout=120)
    assert module.returncode == 0 and module.stdout.startswith("lumakras, version "), module.stderr
