"""Checked argument types and small helpers shared by the command lines.

Every numeric option goes through a type that checks its range, so ``--steps 0``,
``--lr nan`` or ``--threads -1`` end in argparse's usage message (exit status 2) with the
allowed range, instead of silently meaning "the default" or producing NaN later::

    p.add_argument("--steps", type=positive_int)
    p.add_argument("--lr", type=float_range(0, None, low_open=True))   # 0 < lr < inf

Also :func:`json_text` (JSON that is always valid: NaN/Inf become ``null``),
:func:`check_name` (printable names only), and what the ``ecg`` and ``volume`` commands share:
their output options, the ``--out`` check, atomic figure/JSON writing and the exit statuses.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import unicodedata
from pathlib import Path

__all__ = ["ArgumentParser", "int_range", "float_range", "positive_int", "nonnegative_int", "positive_float",
           "nonnegative_float", "json_text", "finite_or_none", "check_name", "one_line", "check_writable_folder",
           "save_figure", "write_json", "add_output_arguments", "output_folder", "run_main", "report"]


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
    import tempfile

    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OSError(f"{flag} {folder}: is a file, not a folder; cannot write there")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:  # a plain OSError: the command lines answer it with exit status 1
        raise OSError(f"{flag} {folder}: cannot write there ({exc.strerror or exc})") from None


def add_output_arguments(p, default_out: str) -> None:
    """``--out DIR``, ``--json``, ``--quick`` and ``--seed``, as ``python -m minicnn.ecg`` and
    ``python -m minicnn.volume`` share them."""
    p.add_argument("--out", default=default_out, help="folder for the figure and the metrics JSON "
                   "(default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--quick", action="store_true", help="a smaller run (also MINICNN_FAST=1)")
    p.add_argument("--seed", type=nonnegative_int, default=0)


def output_folder(out) -> Path:
    """``--out`` checked before training, not after: a folder that can be written."""
    out = Path(out)
    if os.path.lexists(out) and not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder; give a folder for the figures "
                              f"and metrics")
    check_writable_folder(out, "--out")
    return out


def run_main(run, argv, parser, prog) -> int:
    """Parse, run, and turn errors into one line and an exit status (2 bad input, 1 cannot write)."""
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, TypeError, FileExistsError) as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return 1


def report(metrics: dict, fig_path: Path, summary: str, out: Path, as_json: bool) -> None:
    """Write ``<task>_metrics.json`` and print the summary (or the metrics as JSON)."""
    metrics["figure"] = str(fig_path)
    write_json(metrics, out / f"{metrics['task']}_metrics.json")
    if as_json:
        print(json_text(metrics))
    else:
        print(summary)
        print(f"figure: {fig_path}  ({metrics['seconds']:.1f} s)")


def save_figure(fig, path, dpi: int = 110):
    """Write a matplotlib Figure as PNG atomically (a reader never sees half a file); returns the path."""
    from .io import atomic_write

    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


def write_json(obj, path) -> None:
    """Write ``obj`` as indented JSON atomically; NaN and Inf become ``null`` (valid JSON)."""
    from .io import atomic_write

    def write(tmp):
        with open(tmp, "w") as fh:
            json.dump(finite_or_none(obj), fh, indent=2, allow_nan=False)
    atomic_write(path, write)


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
