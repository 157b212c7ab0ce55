"""The public API keeps the type-hint policy of CONTRIBUTING.md ("Type hints").

Every function named in a package's ``__all__``, and the ``__init__`` / ``forward`` /
``__call__`` that minicnn defines for each exported class, annotates every parameter and its
return value; the hints must resolve (``typing.get_type_hints``), so a misspelt or unimported
name fails here rather than in a reader's type checker.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing

import pytest
from matplotlib.figure import Figure

import minicnn
from minicnn.face.dlib_models.model import DlibFaceModel

PACKAGES = [
    "minicnn",
    "minicnn.functional",
    "minicnn.nn",
    "minicnn.optim",
    "minicnn.face",
    "minicnn.style",
    "minicnn.visualize",
    "minicnn.ecg",
    "minicnn.volume",
]
EXCLUDED: set[str] = set()  # public names exempt from the policy (none)

METHODS = ("__init__", "forward", "__call__")


def _ours(obj) -> bool:
    return getattr(obj, "__module__", "").split(".")[0] == "minicnn"


def _callables(package: str, seen: set):
    """(qualified name, function) for every public function and checked method of `package`.

    A method inherited from a minicnn base class (exported or not) is checked once, under the
    name of the class that defines it.
    """
    module = importlib.import_module(package)
    for name in module.__all__:
        qualname = f"{package}.{name}"
        obj = getattr(module, name, None)  # a missing name fails test_all_names_exist
        if qualname in EXCLUDED or isinstance(obj, types.ModuleType) or not _ours(obj):
            continue
        if inspect.isclass(obj):
            for method in METHODS:
                func = inspect.getattr_static(obj, method, None)
                if isinstance(func, (staticmethod, classmethod)):
                    func = func.__func__
                if inspect.isfunction(func) and _ours(func) and func not in seen:
                    seen.add(func)
                    yield f"{func.__module__}.{func.__qualname__}", func
        elif callable(obj):
            yield qualname, obj


def _missing(func) -> list[str]:
    """The parameters (and "return") of `func` that have no annotation.

    ``self``/``cls`` and private parameters (a leading underscore) are exempt.
    """
    func = inspect.unwrap(func)
    params = list(inspect.signature(func).parameters.values())
    missing = [
        p.name
        for i, p in enumerate(params)
        if p.annotation is inspect.Parameter.empty
        and not (i == 0 and p.name in ("self", "cls"))
        and not p.name.startswith("_")
    ]
    if "return" not in func.__annotations__:
        missing.append("return")
    return missing


_SEEN: set = set()
CALLABLES = [item for package in PACKAGES for item in _callables(package, _SEEN)]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_names_exist(package):
    module = importlib.import_module(package)
    absent = [name for name in module.__all__ if not hasattr(module, name)]
    assert not absent, f"{package}.__all__ names missing attributes: {absent}"
    assert len(set(module.__all__)) == len(module.__all__), f"{package}.__all__ has duplicates"


def test_the_walk_finds_the_api():
    names = {name for name, _ in CALLABLES}
    # A walk that silently found nothing would pass every check below.
    assert {"minicnn.functional.conv2d", "minicnn.nn.module.Module.__call__",
            "minicnn.nn.conv._ConvNd.__init__", "minicnn.optim.adam.Adam.__init__",
            "minicnn.style.style_transfer"} <= names
    assert len(CALLABLES) > 100


@pytest.mark.parametrize("name,func", CALLABLES, ids=[name for name, _ in CALLABLES])
def test_public_callable_is_fully_annotated(name, func):
    missing = _missing(func)
    assert not missing, f"{name} lacks type hints for: {', '.join(missing)}"
    # Hints must name real types, importable where the function lives. Two names may be imported
    # under TYPE_CHECKING only, and are supplied here: Tensor (autograd and ops are imported by
    # tensor.py), Figure (style imports matplotlib only when it draws) and DlibFaceModel (the dlib
    # reader is imported only when load_model is asked for it).
    typing.get_type_hints(inspect.unwrap(func), localns={"Tensor": minicnn.Tensor, "Figure": Figure,
                                                                 "DlibFaceModel": DlibFaceModel})
