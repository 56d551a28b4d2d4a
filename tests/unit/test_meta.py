"""Exhaustiveness meta-tests (STYLE §7.8, after httpx): every Operation has a phase, a label and a
handler; every ``__all__`` names what its module defines."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import typing
from types import ModuleType

import pytest

import personio360
from personio360.cli import render
from personio360.sync import executor, operations

OPERATIONS: tuple[type, ...] = typing.get_args(operations.Operation)


def _modules() -> list[ModuleType]:
    found = []
    for info in pkgutil.walk_packages(personio360.__path__, prefix="personio360."):
        if info.name.endswith(".__main__") or ".migrations" in info.name:
            continue  # __main__ runs the CLI on import; migrations are Alembic scripts
        found.append(importlib.import_module(info.name))
    return [personio360, *found]


MODULES = [m for m in _modules() if hasattr(m, "__all__")]


def _dispatched_classes() -> set[str]:
    """The class names the ``match`` statement of ``Executor._dispatch`` has a case for."""
    tree = ast.parse(inspect.getsource(executor))
    method = next(node for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef) and node.name == "_dispatch")
    names: set[str] = set()
    for match in (n for n in ast.walk(method) if isinstance(n, ast.Match)):
        for case in match.cases:
            for pattern in ast.walk(case.pattern):
                if isinstance(pattern, ast.MatchClass) and isinstance(pattern.cls, ast.Name):
                    names.add(pattern.cls.id)
    return names


def test_the_operation_union_is_not_empty_and_kinds_are_unique() -> None:
    """Each Operation class has its own ``kind`` and a rule reference."""
    assert len(OPERATIONS) >= 11
    kinds = [op.kind for op in OPERATIONS]  # type: ignore[attr-defined]
    assert len(set(kinds)) == len(kinds)
    assert all(op.rule.startswith("R") for op in OPERATIONS)  # type: ignore[attr-defined]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.__name__)
def test_every_operation_has_exactly_one_phase(op: type) -> None:
    """The executor applies every operation in one phase (STYLE §7.4)."""
    assert sum(op in kinds for _name, kinds in operations.PHASES) == 1


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.__name__)
def test_every_operation_has_a_label(op: type) -> None:
    """``plan`` and ``runs show`` print a readable label for every kind."""
    assert op.kind in render._LABELS  # type: ignore[attr-defined]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.__name__)
def test_every_operation_has_a_handler(op: type) -> None:
    """``Executor._dispatch`` has a ``match`` case for every operation class."""
    assert op.__name__ in _dispatched_classes()


def test_no_phase_or_label_names_an_unknown_operation() -> None:
    """Phases and labels list nothing but Operation classes and kinds."""
    in_phases = {k for _name, kinds in operations.PHASES for k in kinds}
    assert in_phases == set(OPERATIONS)
    assert set(render._LABELS) == {op.kind for op in OPERATIONS}  # type: ignore[attr-defined]
    assert _dispatched_classes() == {op.__name__ for op in OPERATIONS}


def test_phase_of_refuses_a_stranger() -> None:
    """``phase_of`` fails loudly on anything that is not an Operation."""
    with pytest.raises(AssertionError, match="no phase for"):
        operations.phase_of(object())  # type: ignore[arg-type]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_all_names_exist_once(module: ModuleType) -> None:
    """Every name in ``__all__`` exists in its module, once."""
    names = list(module.__all__)
    assert len(set(names)) == len(names), f"{module.__name__}.__all__ lists a name twice"
    missing = [name for name in names if not hasattr(module, name)]
    assert missing == [], f"{module.__name__}.__all__ names missing objects"


def test_most_modules_declare_all() -> None:
    """The public modules say what they export (the meta test above then checks it)."""
    assert len(MODULES) >= 40
