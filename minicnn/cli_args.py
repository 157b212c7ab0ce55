"""Checked argument types and small helpers shared by the command lines.

Every numeric option goes through a type that checks its range, so ``--steps 0``,
``--lr nan`` or ``--threads -1`` end in argparse's usage message (exit status 2) with the
allowed range, instead of silently meaning "the default" or producing NaN later::

    p.add_argument("--steps", type=positive_int)
    p.add_argument("--lr", type=float_range(0, None, low_open=True))   # 0 < lr < inf

Also :func:`json_text` (JSON that is always valid: NaN/Inf become ``null``) and
:func:`check_name` (printable names only).
"""
from __future__ import annotations

import argparse
import json
import math
import unicodedata

__all__ = ["ArgumentParser", "int_range", "float_range", "positive_int", "nonnegative_int", "positive_float",
           "nonnegative_float", "json_text", "finite_or_none", "check_name", "one_line", "check_writable_folder"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is one line on stderr (exit status 2):
    ``prog: error: argument --steps: must be >= 1, got 0 (see --help)``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def int_range(low=None, high=None):
    """argparse type: an integer with ``low <= value <= high`` (None: unbounded)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {_describe(low, high, False, False)}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def float_range(low=None, high=None, low_open=False, high_open=False):
    """argparse type: a finite float in the interval (open ends with ``*_open``)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if low is not None and (value < low or (low_open and value == low)) or \
                high is not None and (value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"must be {_describe(low, high, low_open, high_open)}, got {value:g}")
        return value
    parse.__name__ = "number"
    return parse


def _describe(low, high, low_open, high_open):
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "a finite number"


positive_int = int_range(1)
nonnegative_int = int_range(0)
positive_float = float_range(0, None, low_open=True)
nonnegative_float = float_range(0)


def finite_or_none(obj):
    """A copy of a JSON-able structure with NaN/Inf floats replaced by ``None`` (undefined)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # NumPy scalar
        return finite_or_none(obj.item())
    return obj


def json_text(obj, **kwargs) -> str:
    """``json.dumps`` that never writes the invalid tokens ``NaN`` / ``Infinity``."""
    return json.dumps(finite_or_none(obj), allow_nan=False, **kwargs)


def check_writable_folder(folder, flag) -> None:
    """Create ``folder`` if needed and make sure a file can be written in it, before a long
    job rather than after (raises ``OSError`` naming ``flag`` and the folder)."""
    import os
    import tempfile

    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OSError(f"{flag} {folder}: is a file, not a folder; cannot write there")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:  # a plain OSError: the command lines answer it with exit status 1
        raise OSError(f"{flag} {folder}: cannot write there ({exc.strerror or exc})") from None


def one_line(message) -> str:
    """An error message (or exception) as one line: whitespace runs, newlines included, become one space."""
    return " ".join(str(message).split())


def check_name(name, what="name") -> str:
    """``name`` if it is a non-empty string without control or format characters.

    Newlines, escape sequences (ANSI colour codes) and bidirectional overrides would let a
    stored name rewrite what a terminal or a log shows, so they are refused.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    if bad:
        raise ValueError(f"{what} {name!r} contains control character(s) {''.join(bad)!r}; use printable text")
    return name
