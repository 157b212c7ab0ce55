"""Reading dlib's serialization format (``dlib/serialize.h``), without dlib and without pickle.

dlib writes every value through a handful of primitives:

* **integers** are *packed*: one control byte, then the magnitude in little-endian bytes.
  The control byte's low 4 bits give the number of magnitude bytes (0-8) and its high
  bit (0x80) marks a negative number; the bits 0x70 are always zero. ``5`` is
  ``01 05``, ``-4`` is ``81 04``, ``256`` is ``02 00 01``.
* **floats and doubles** are two packed integers, a 64-bit mantissa ``m`` and a 16-bit
  exponent ``e``, and mean ``m * 2**e`` (exactly: no rounding happens on the way in).
  Three exponents are reserved for the special values: 32000 = +inf, 32001 = -inf,
  32002 = NaN.
* **strings** are a packed length followed by the raw bytes; **bools** are the
  characters ``'1'`` / ``'0'``.
* **DNN tensors** (``dlib/dnn/tensor.h``) are a packed version (2), the four dimensions
  (num_samples, k, nr, nc) as packed integers and then the values as raw little-endian
  float32 -- the one place where dlib writes floats unpacked.
* **matrices** (``dlib/matrix``) are packed nr, nc (written negated by current dlib), then
  nr*nc packed floats, row by row.

Packed floats have a variable length, so a long run of them cannot be read with one
``np.frombuffer``; :func:`_decode_floats` walks such a run in compiled code instead
(the 5-point shape predictor holds about two million of them).
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: dlib's reserved exponents for the special float values (``float_details`` in serialize.h).
_EXP_INF, _EXP_NINF, _EXP_NAN = 32000, 32001, 32002


class DlibFormatError(ValueError):
    """A dlib model file that is not what the reader expected; the message names the file
    and the byte offset."""


@njit(cache=True)
def _decode_ints(buf, pos, n, out):
    """Decode ``n`` packed integers from ``buf[pos:]`` into ``out``; return the end offset,
    or -1 on a malformed or truncated run."""
    size_buf = buf.shape[0]
    for i in range(n):
        if pos >= size_buf:
            return -1
        ctrl = buf[pos]
        pos += 1
        if ctrl & 0x70:
            return -1
        nbytes = ctrl & 0x0F
        if nbytes > 8 or pos + nbytes > size_buf:
            return -1
        v = 0
        for j in range(nbytes - 1, -1, -1):
            v = (v << 8) | np.int64(buf[pos + j])
        pos += nbytes
        out[i] = -v if ctrl & 0x80 else v
    return pos


@njit(cache=True)
def _decode_floats(buf, pos, n, out):
    """Decode ``n`` packed floats (mantissa, exponent pairs) from ``buf[pos:]`` into
    ``out`` (float64); return the end offset, or -1 on a malformed or truncated run."""
    pair = np.empty(2, np.int64)
    for i in range(n):
        pos = _decode_ints(buf, pos, 2, pair)
        if pos < 0:
            return -1
        m, e = pair[0], pair[1]
        if e == _EXP_INF:
            out[i] = np.inf
        elif e == _EXP_NINF:
            out[i] = -np.inf
        elif e == _EXP_NAN:
            out[i] = np.nan
        else:
            out[i] = np.ldexp(np.float64(m), e)
    return pos


class Reader:
    """A cursor over the bytes of one dlib file. Every ``read_*`` advances the cursor;
    every failure raises :class:`DlibFormatError` naming the file and the offset."""

    def __init__(self, data: bytes, name: str = "<bytes>"):
        self.buf = np.frombuffer(data, dtype=np.uint8)
        self.name = str(name)
        self.pos = 0

    # -- errors -----------------------------------------------------------------------
    def error(self, what: str, at: int | None = None) -> DlibFormatError:
        at = self.pos if at is None else at
        return DlibFormatError(f"{self.name}: byte {at}: {what}")

    def at_end(self) -> bool:
        return self.pos >= self.buf.shape[0]

    # -- primitives ---------------------------------------------------------------------
    def read_ints(self, n: int) -> np.ndarray:
        out = np.empty(n, np.int64)
        end = _decode_ints(self.buf, self.pos, n, out)
        if end < 0:
            raise self.error(f"expected {n} packed integer(s) (truncated or not a dlib file)")
        self.pos = end
        return out

    def read_int(self) -> int:
        return int(self.read_ints(1)[0])

    def read_floats(self, n: int) -> np.ndarray:
        """``n`` packed floats as float64 (exact: every float32 and double fits)."""
        out = np.empty(n, np.float64)
        end = _decode_floats(self.buf, self.pos, n, out)
        if end < 0:
            raise self.error(f"expected {n} packed float(s) (truncated or not a dlib file)")
        self.pos = end
        return out

    def read_float(self) -> float:
        return float(self.read_floats(1)[0])

    def read_bytes(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.buf.shape[0]:
            raise self.error(f"expected {n} more bytes, the file ends at {self.buf.shape[0]} (truncated?)")
        b = self.buf[self.pos:self.pos + n].tobytes()
        self.pos += n
        return b

    def read_string(self, max_len: int = 256) -> str:
        start = self.pos
        n = self.read_int()
        if not 0 <= n <= max_len:
            raise self.error(f"expected a string, found a length of {n}", at=start)
        raw = self.read_bytes(n)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.error(f"expected an ASCII string, found {raw[:20]!r}", at=start) from None

    def expect_string(self, *allowed: str) -> str:
        start = self.pos
        s = self.read_string()
        if s not in allowed:
            raise self.error(f"expected {' or '.join(repr(a) for a in allowed)}, found {s!r}", at=start)
        return s

    def peek_string(self, max_len: int = 64) -> str | None:
        """The string at the cursor if there is a plausible one, else None; never moves."""
        start = self.pos
        try:
            s = self.read_string(max_len)
        except DlibFormatError:
            s = None
        self.pos = start
        return s if s and s.isprintable() else None

    def read_bool(self) -> bool:
        c = self.read_bytes(1)
        if c not in (b"0", b"1"):
            raise self.error(f"expected a bool ('0' or '1'), found {c!r}", at=self.pos - 1)
        return c == b"1"

    def expect_int(self, *allowed: int, what: str = "version") -> int:
        start = self.pos
        v = self.read_int()
        if v not in allowed:
            raise self.error(f"expected {what} {' or '.join(map(str, allowed))}, found {v}", at=start)
        return v

    # -- composite values ------------------------------------------------------------------
    def read_tensor(self) -> np.ndarray:
        """A DNN tensor -> float32 array of shape (num_samples, k, nr, nc)."""
        start = self.pos
        self.expect_int(2, what="tensor version")
        shape = tuple(int(s) for s in self.read_ints(4))
        if min(shape) < 0 or np.prod(shape, dtype=np.float64) > 5e8:
            raise self.error(f"implausible tensor shape {shape}", at=start)
        raw = self.read_bytes(4 * int(np.prod(shape)))
        return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()

    def read_alias_shape(self) -> tuple:
        """An ``alias_tensor`` (a view into a layer's parameter tensor): version 1 and a shape."""
        self.expect_int(1, what="alias_tensor version")
        return tuple(int(s) for s in self.read_ints(4))

    def read_matrix(self) -> np.ndarray:
        """A dlib matrix of floats -> float64 array of shape (nr, nc)."""
        start = self.pos
        nr, nc = (int(v) for v in self.read_ints(2))
        # dlib's current format writes the sizes negated (to tell it from an older one
        # and to share the layout of array2d); the older format writes them as they are
        nr, nc = abs(nr), abs(nc)
        if nr * nc > 5e8:
            raise self.error(f"implausible matrix shape ({nr}, {nc})", at=start)
        return self.read_floats(nr * nc).reshape(nr, nc)
