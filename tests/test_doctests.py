"""The examples in the docstrings run, module by module, under each module's import name (pytest's
--doctest-modules would import ``ingest/manifest.py`` as ``ingest.manifest``, a second copy)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest


def _modules() -> list[str]:
    names = []
    for package in (
        "housing_kb",
        "housing_kb.ingest",
        "housing_kb.index",
        "housing_kb.api",
        "housing_kb.evaluation",
    ):
        module = importlib.import_module(package)
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(module.__path__, package + ".")]
    return sorted(set(names))


def _with_examples() -> list[str]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [
        name for name in _modules() if any(t.examples for t in finder.find(importlib.import_module(name)))
    ]


@pytest.mark.parametrize("name", _with_examples())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} examples of {name} failed (run it verbose)"
    )
