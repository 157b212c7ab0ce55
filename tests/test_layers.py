"""The layer order of docs/architecture.md holds in the code.

Every module under ``minicnn/`` is parsed (not imported) and every import it
makes, at module level or inside a function, relative or absolute, is
resolved to a module of the package. The layer table is read from
docs/architecture.md, so the page and the check cannot drift apart.
"""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "minicnn"
DOC = ROOT / "docs" / "architecture.md"
APPLICATIONS = "applications"


def read_layers(text):
    """The doc's table rows ``| 3 functional | `minicnn.functional.*` |`` ->
    {entry: (layer number, layer name)}; ``x.*`` is the package x and all under it."""
    layers = {}
    for number, name, cell in re.findall(r"^\| (\d+) ([^|]+?) \| (.+?) \|$", text, re.M):
        for entry in re.findall(r"`([\w.*]+)`", cell):
            layers[entry] = (int(number), name)
    return layers


def find_modules(package=PACKAGE):
    """{dotted name: (path, is a package __init__)} for every .py file under ``package``."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def imports_of(name, path, is_package, modules):
    """The package's modules that ``name`` imports (anywhere in the file)."""
    def known(dotted):  # the module itself, else the nearest package that holds it
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted

    here = name if is_package else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    # `if TYPE_CHECKING:` imports never run: they name types for annotations (CONTRIBUTING.md)
    hints_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                  for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in hints_only:
            continue
        if isinstance(node, ast.Import):
            found |= {known(a.name) for a in node.names if a.name.split(".")[0] == "minicnn"}
        elif isinstance(node, ast.ImportFrom):
            base = here
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            source = node.module if not node.level else ".".join(filter(None, (base, node.module)))
            if source.split(".")[0] != "minicnn":
                continue
            for alias in node.names:  # `from minicnn import nn` imports the module minicnn.nn
                member = f"{source}.{alias.name}"
                found.add(member if member in modules else known(source))
    return found - {name, ""}


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def layer_of(module, layers):
    """The (number, name) of the most specific table entry that covers ``module``, or None."""
    best, best_len = None, -1
    for entry, layer in layers.items():
        prefix = entry[:-2] if entry.endswith(".*") else None
        covers = module == entry or (prefix is not None and (module == prefix or module.startswith(prefix + ".")))
        length = len(prefix if prefix is not None else entry) + (prefix is None)  # exact beats x.*
        if covers and length > best_len:
            best, best_len = layer, length
    return best


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def import_graph(package=PACKAGE):
    modules = find_modules(package)
    return {name: imports_of(name, path, is_pkg, modules) for name, (path, is_pkg) in modules.items()}


def unit(module):
    """The top-level part a module belongs to: minicnn.nn.conv -> minicnn.nn."""
    return ".".join(module.split(".")[:2])


def violations(graph, layers):
    """Every broken rule, as readable lines (empty when the code keeps the doc's order)."""
    problems = [f"{m}: in no layer of docs/architecture.md" for m in graph if layer_of(m, layers) is None]
    for module, targets in sorted(graph.items()):
        mine = layer_of(module, layers)
        for target in sorted(targets):
            theirs = layer_of(target, layers)
            if mine is None or theirs is None:
                continue
            if theirs[0] > mine[0]:
                problems.append(f"{module} (layer {mine[0]} {mine[1]}) imports {target} "
                                f"(layer {theirs[0]} {theirs[1]})")
            elif mine[1] == theirs[1] == APPLICATIONS and unit(module) != unit(target):
                problems.append(f"{module} imports {target}: applications do not import each other")
    problems += [f"import cycle between modules: {' <-> '.join(c)}" for c in cycles(graph)]
    units = {}
    for module, targets in graph.items():
        units.setdefault(unit(module), set()).update(unit(t) for t in targets if unit(t) != unit(module))
    problems += [f"import cycle between parts: {' <-> '.join(c)}" for c in cycles(units)]
    return problems


LAYERS = read_layers(DOC.read_text())


def test_the_doc_has_the_layer_table():
    numbers = sorted({n for n, _ in LAYERS.values()})
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 6, numbers
    assert {"minicnn.backend", "minicnn.tensor", "minicnn.functional.*", "minicnn.nn.*"} <= set(LAYERS)


def test_every_module_keeps_the_layer_order():
    problems = violations(import_graph(), LAYERS)
    assert not problems, "\n" + "\n".join(problems)


# ------------------------------------------------------------ the checker itself can fail
def _tiny_package(tmp_path, files):
    pkg = tmp_path / "minicnn"
    for name, text in {"__init__.py": "", **files}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    return import_graph(pkg)


TINY_LAYERS = read_layers("| 1 low | `minicnn.backend`, `minicnn` |\n"
                          "| 2 applications | `minicnn.a.*`, `minicnn.b.*` |\n"
                          "| 3 command lines | `minicnn.a.cli` |\n")


@pytest.mark.parametrize("files, expected", [
    ({"backend.py": "def f():\n    from .a import x\n", "a/__init__.py": "x = 1\n"},
     "minicnn.backend (layer 1 low) imports minicnn.a (layer 2 applications)"),
    ({"backend.py": "", "a/__init__.py": "from . import cli\n", "a/cli.py": ""},
     "minicnn.a (layer 2 applications) imports minicnn.a.cli (layer 3 command lines)"),
    ({"a/__init__.py": "", "a/m.py": "from minicnn.b import n\n", "b/__init__.py": ""},
     "minicnn.a.m imports minicnn.b: applications do not import each other"),
    ({"a/__init__.py": "", "a/m.py": "from . import n\n", "a/n.py": "from .m import f\n"},
     "import cycle between modules: minicnn.a.m <-> minicnn.a.n"),
    ({"a/__init__.py": "", "a/cli.py": "import minicnn.c\n", "c.py": "from .a import cli\n"},
     "minicnn.c: in no layer of docs/architecture.md"),
    ({"backend.py": "import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    from .a import x\n",
      "a/__init__.py": "x = 1\n"},  # only the TYPE_CHECKING branch is exempt
     "minicnn.backend (layer 1 low) imports minicnn.a (layer 2 applications)"),
])
def test_the_checker_catches(tmp_path, files, expected):
    problems = violations(_tiny_package(tmp_path, files), TINY_LAYERS)
    assert any(expected in p for p in problems), problems


def test_the_checker_ignores_imports_for_type_checking(tmp_path):
    graph = _tiny_package(tmp_path, {"backend.py": "from typing import TYPE_CHECKING\n"
                                                   "if TYPE_CHECKING:\n    from .a import x\n",
                                     "a/__init__.py": "from ..backend import f\n"})
    assert graph["minicnn.backend"] == set()
    assert violations(graph, TINY_LAYERS) == []


def test_the_checker_accepts_downward_imports(tmp_path):
    graph = _tiny_package(tmp_path, {"backend.py": "", "a/__init__.py": "from ..backend import f\n",
                                     "a/cli.py": "from minicnn import a, backend\nimport minicnn.b\n",
                                     "b/__init__.py": "import minicnn as mc\n"})
    assert graph["minicnn.a.cli"] == {"minicnn.a", "minicnn.backend", "minicnn.b"}
    assert violations(graph, TINY_LAYERS) == []
