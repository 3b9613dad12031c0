"""The shipped data goes into the wheel: kb/, scenarios/ and the example requests of queries/ stay at the
top of the repository (where policy authors edit them) and are copied into the built package as
lumakras_logic/shipped/, where an installed lumakras finds them (lumakras_logic/core/kb.py, default_kb_dir).
Everything else about the build is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("kb", "scenarios", "queries")


class BuildWithShippedData(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "lumakras_logic" / "shipped"
        shutil.rmtree(target, ignore_errors=True)  # a build folder left from before holds no stale kb file
        for name in SHIPPED:
            if (root / name).is_dir():
                shutil.copytree(root / name, target / name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithShippedData})
