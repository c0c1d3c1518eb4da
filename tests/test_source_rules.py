"""Rules the source keeps, read from it: what each part may import, module names, and syntax every
the oldest Python the locked environment installs on (3.11: numpy 2.4) parses."""

from __future__ import annotations

import ast
import io
import pathlib
import sys
import tokenize

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("common", "serving", "components", "pipeline", "kubeflow", "benchmarks")
SOURCES = sorted(p for package in (*PACKAGES, "tests") for p in (REPO / package).rglob("*.py"))
CLIS = {"pipeline.cli", "serving.cli", "kubeflow.cli"}


def _imports(path: pathlib.Path) -> set:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


LAYERS = ("common", "serving", "components", "pipeline", "kubeflow")  # each may import only those before it


@pytest.mark.parametrize("package", LAYERS)
def test_no_package_imports_a_higher_layer(package):
    """Lazy imports included: a cycle, or a lower layer reaching up, fails."""
    higher = set(LAYERS[LAYERS.index(package) + 1:])
    found = {(str(p.relative_to(REPO)), name) for p in (REPO / package).rglob("*.py") for name in _imports(p)
             if name.split(".")[0] in higher}
    assert found == set()


def test_no_command_imports_another_commands_parser():
    """Their shared options live in modules both import (pipeline/options.py)."""
    found = {(str(p.relative_to(REPO)), name) for p in SOURCES if p.parent.name != "tests"
             for name in _imports(p) & CLIS if not str(p.relative_to(REPO)).startswith(name.replace(".", "/"))}
    assert found == set()


def test_the_pipeline_imports_no_orchestrators_package():
    """pipeline/ is the same DAG for every orchestrator; Kubeflow's kfp is kubeflow/'s alone."""
    found = {(str(p.relative_to(REPO)), name) for p in (REPO / "pipeline").rglob("*.py") for name in _imports(p)
             if name.split(".")[0] == "kfp"}
    assert found == set()


def test_no_module_shadows_the_standard_library():
    assert {str(p.relative_to(REPO)) for p in SOURCES if p.stem in sys.stdlib_module_names} == set()


def _nested_same_quotes(source: str) -> list:
    """Lines where an f-string's replacement field holds a string in the f-string's own quotes:
    Python 3.12 parses them (PEP 701), 3.11 does not."""
    found, quotes = [], []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.STRING, tokenize.FSTRING_START):
            quote = token.string.lstrip("rRbBuUfF")
            if any(quote.startswith(outer) for outer in quotes):
                found.append(token.start[0])
        if token.type == tokenize.FSTRING_START:
            quotes.append(token.string.lstrip("rRbBuUfF"))
        elif token.type == tokenize.FSTRING_END:
            quotes.pop()
    return found


def test_python_3_11_parses_every_file():
    for path in SOURCES:
        ast.parse(path.read_text(), str(path), feature_version=(3, 11))
    assert {str(p.relative_to(REPO)): lines for p in SOURCES if (lines := _nested_same_quotes(p.read_text()))} == {}
