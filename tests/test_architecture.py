"""The package's layout stays what README's "Layout" section says: layers pointing down, no cycles, small pieces."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "rerankft"
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def _lint(pkg_parent: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pkg_parent)}
    return subprocess.run([*LINT, "--config", str(REPO / "pyproject.toml")], cwd=pkg_parent, env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept():
    r = _lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 kept, 0 broken" in r.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The contract is not vacuous: a core module importing the pipeline is caught."""
    shutil.copytree(PKG, tmp_path / "rerankft", ignore=shutil.ignore_patterns("__pycache__", "demo_data"))
    runs = tmp_path / "rerankft" / "core" / "runs.py"
    runs.write_text(runs.read_text() + "\n\ndef _up():\n    from rerankft.pipeline import train  # noqa: F401\n")
    r = _lint(tmp_path)
    assert r.returncode != 0 and "BROKEN" in r.stdout, r.stdout + r.stderr


def _sizes():
    for f in sorted(PKG.rglob("*.py")):
        src = f.read_text(encoding="utf-8")
        yield f, src.count("\n") + 1, [
            (n.name, n.end_lineno - n.lineno + 1)
            for n in ast.walk(ast.parse(src))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]


@pytest.mark.parametrize("limit_function, limit_module", [(80, 400)])
def test_functions_and_modules_stay_small(limit_function, limit_module):
    long_functions = [(f.relative_to(REPO).as_posix(), name, n) for f, _, fns in _sizes() for name, n in fns if n > limit_function]
    long_modules = [(f.relative_to(REPO).as_posix(), n) for f, n, _ in _sizes() if n > limit_module]
    assert not long_functions and not long_modules, (long_functions, long_modules)
