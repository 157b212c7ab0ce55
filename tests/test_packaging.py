"""The package metadata says what the package holds: version once, data globs that match files."""

import glob
import os

import pytest

import minicnn

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_version_comes_from_the_metadata():
    assert minicnn.__version__ == _pyproject()["project"]["version"]


def test_every_package_data_glob_matches_a_file():
    for package, patterns in _pyproject()["tool"]["setuptools"]["package-data"].items():
        for pattern in patterns:
            found = glob.glob(os.path.join(ROOT, package, pattern))
            assert found, f"package-data {package}: {pattern!r} matches no file"


def test_data_files_in_the_package_are_covered_by_a_glob():
    """A weights file added to the package but not to package-data would be missing from the wheel."""
    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["minicnn"]
    covered = {os.path.normpath(p) for pat in patterns for p in glob.glob(os.path.join(ROOT, "minicnn", pat))}
    for path in glob.glob(os.path.join(ROOT, "minicnn", "**", "*.*"), recursive=True):
        if path.endswith((".py", ".pyc", ".nbi", ".nbc")) or "__pycache__" in path:
            continue
        assert os.path.normpath(path) in covered, f"{os.path.relpath(path, ROOT)} is not in package-data"


def test_test_modules_do_not_need_the_oracles_to_import():
    """The README's test command installs neither PyTorch nor dlib: a test module that imports
    one at top level, unguarded, errors at collection instead of skipping its oracle tests."""
    import ast

    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "*.py"))):
        for node in ast.parse(open(path).read()).body:  # top level only; try/except and functions are fine
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            bad = [n for n in names if n.split(".")[0] in ("torch", "dlib")]
            assert not bad, f"{os.path.basename(path)}:{node.lineno} imports {bad[0]} unguarded"
