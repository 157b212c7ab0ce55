"""Reader for PhysioNet WFDB records: header (.hea), signals (.dat) and annotations (.atr).

Written from the format descriptions (PhysioNet's header(5), signal(5) and annot(5) pages);
it covers what the MIT-BIH Arrhythmia Database needs:

* header: the record line ``name nsig [fs [nsamp]]`` and one signal line per lead
  ``file format gain[(baseline)][/units] adcres adczero initval checksum blocksize description``;
* signal formats 212 (two 12-bit samples in 3 bytes), 16 (little-endian int16),
  61 (big-endian int16) and 80 (8-bit offset binary);
* the MIT annotation format (16-bit words: 6-bit code, 10-bit time increment) including the
  pseudo-codes SKIP, NUM, SUB, CHN and AUX.

Every malformed or truncated file raises ``ValueError`` naming the file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "SignalInfo", "Header", "Record", "Annotations",
    "read_header", "read_record", "read_annotations",
    "decode_212", "encode_212", "ANNOTATION_SYMBOLS", "BEAT_CODES",
]

# Pseudo-annotation codes of the MIT format (annot(5)).
SKIP, NUM, SUB, CHN, AUX = 59, 60, 61, 62, 63

# Mnemonics of the standard MIT annotation codes 0..41 (ecgcodes.h); unknown codes print as [k].
_SYMBOLS = (" N L R a V F J A S E j / Q ~ [15] | [17] s T * D \" = p B ^ t + u ? ! [ ] e n @ x f ( ) r"
            ).split(" ")
_SYMBOLS[0] = " "
ANNOTATION_SYMBOLS: dict[int, str] = {code: sym for code, sym in enumerate(_SYMBOLS)}

# Codes that mark a QRS complex (a heart beat); the rest are rhythm, noise or comment labels.
BEAT_CODES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 30, 34, 35, 38, 41})

_SUPPORTED_FORMATS = (16, 61, 80, 212)


@dataclass
class SignalInfo:
    """One signal line of a header: where the samples are and how to turn them into units."""

    file_name: str
    fmt: int
    gain: float          # ADC units per physical unit (e.g. 200 adu/mV)
    baseline: int        # ADC value that corresponds to 0 physical units
    units: str
    adc_resolution: int
    adc_zero: int
    initial_value: int | None
    checksum: int | None
    description: str
    byte_offset: int = 0


@dataclass
class Header:
    """Contents of a ``.hea`` file."""

    record_name: str
    n_signals: int
    fs: float
    n_samples: int | None
    signals: list[SignalInfo]
    comments: list[str] = field(default_factory=list)


@dataclass
class Record:
    """A read record.

    ``signals`` has shape ``(n_signals, n_samples)`` (channels-first, like the rest of minicnn)
    in physical units (mV for ECG), float64; ``digital`` holds the raw ADC integers, same shape.
    """

    name: str
    fs: float
    signals: np.ndarray
    digital: np.ndarray
    names: list[str]
    units: list[str]
    header: Header

    @property
    def n_samples(self) -> int:
        return self.signals.shape[1]

    def lead(self, name: str) -> np.ndarray:
        """Return the physical signal of the lead called ``name``, shape (n_samples,)."""
        if name not in self.names:
            raise ValueError(f"lead {name!r} not in record {self.name!r}; leads are {self.names}")
        return self.signals[self.names.index(name)]


@dataclass
class Annotations:
    """Annotations of one annotator: ``samples`` (int64 positions), ``codes`` (int), ``symbols``
    (their mnemonics), plus the per-annotation ``subtypes``, ``channels``, ``nums`` and ``aux``."""

    samples: np.ndarray
    codes: np.ndarray
    symbols: list[str]
    subtypes: np.ndarray
    channels: np.ndarray
    nums: np.ndarray
    aux: list[bytes]

    def __len__(self) -> int:
        return len(self.samples)

    def beats(self) -> Annotations:
        """Only the annotations whose code marks a QRS complex (``BEAT_CODES``)."""
        return self.select(np.isin(self.codes, list(BEAT_CODES)))

    def select(self, mask: np.ndarray) -> Annotations:
        idx = np.flatnonzero(mask)
        return Annotations(self.samples[idx], self.codes[idx], [self.symbols[i] for i in idx],
                           self.subtypes[idx], self.channels[idx], self.nums[idx],
                           [self.aux[i] for i in idx])


# ----------------------------------------------------------------------------- header
def _int_or_none(tokens: list[str], i: int, path: str, what: str) -> int | None:
    if len(tokens) <= i:
        return None
    try:
        return int(tokens[i])
    except ValueError:
        raise ValueError(f"{path}: signal line field {what} is not an integer: {tokens[i]!r}") from None


def _parse_signal_line(line: str, path: str) -> SignalInfo:
    try:
        return _signal_line(line, path)
    except ValueError as exc:
        if str(exc).startswith(path):
            raise
        raise ValueError(f"{path}: cannot parse the signal line {line!r} ({exc})") from None


def _check_file_name(file_name: str, path: str):
    """A signal file must sit beside its header: a plain name, never a path that climbs out
    (``../../etc/passwd``) or starts elsewhere (``/dev/zero``)."""
    if (file_name in ("", ".", "..", "~") or os.path.basename(file_name) != file_name or "/" in file_name
            or "\\" in file_name or os.path.isabs(file_name)):
        raise ValueError(f"{path}: signal file name {file_name!r} is not a plain file name in the record's folder")


def _signal_line(line: str, path: str) -> SignalInfo:
    tokens = line.split()
    if len(tokens) < 2:
        raise ValueError(f"{path}: signal line needs at least a file name and a format: {line!r}")
    file_name, fmt_field = tokens[0], tokens[1]
    _check_file_name(file_name, path)
    # format[xSamplesPerFrame][:skew][+byteOffset]
    fmt_str, offset = fmt_field, 0
    if "+" in fmt_str:
        fmt_str, off = fmt_str.split("+", 1)
        offset = int(off)
        if offset < 0:
            raise ValueError(f"{path}: negative byte offset {offset}")
    if ":" in fmt_str:
        fmt_str, skew = fmt_str.split(":", 1)
        if int(skew) != 0:
            raise ValueError(f"{path}: signal skew {skew} is not supported")
    if "x" in fmt_str:
        fmt_str, spf = fmt_str.split("x", 1)
        if int(spf) != 1:
            raise ValueError(f"{path}: {spf} samples per frame is not supported (only 1)")
    try:
        fmt = int(fmt_str)
    except ValueError:
        raise ValueError(f"{path}: bad signal format field {fmt_field!r}") from None
    if fmt not in _SUPPORTED_FORMATS:
        raise ValueError(f"{path}: signal format {fmt} is not supported (supported: {_SUPPORTED_FORMATS})")

    gain, baseline, units = 200.0, None, "mV"   # WFDB defaults when the field is absent
    if len(tokens) > 2:
        g = tokens[2]
        if "/" in g:
            g, units = g.split("/", 1)
        if "(" in g:
            g, b = g.split("(", 1)
            baseline = int(b.rstrip(")"))
        try:
            gain = float(g)
        except ValueError:
            raise ValueError(f"{path}: bad gain field {tokens[2]!r}") from None
        if not np.isfinite(gain) or gain < 0:
            raise ValueError(f"{path}: gain must be a finite number >= 0, got {tokens[2]!r}")
        if gain == 0:       # "uncalibrated": WFDB then uses the default gain
            gain = 200.0
    adc_res = _int_or_none(tokens, 3, path, "adcres") or 12
    adc_zero = _int_or_none(tokens, 4, path, "adczero") or 0
    init = _int_or_none(tokens, 5, path, "initval")
    checksum = _int_or_none(tokens, 6, path, "checksum")
    description = " ".join(tokens[8:]) if len(tokens) > 8 else ""
    if baseline is None:    # the baseline defaults to the ADC zero
        baseline = adc_zero
    return SignalInfo(file_name, fmt, gain, baseline, units, adc_res, adc_zero, init, checksum,
                      description, offset)


def read_header(path: str) -> Header:
    """Parse a ``.hea`` file. ``path`` may be given with or without the extension."""
    if not path.endswith(".hea"):
        path = path + ".hea"
    try:
        if os.path.exists(path) and not os.path.isfile(path):
            raise ValueError(f"{path}: not a regular file (a folder, FIFO or device)")
        with open(path, encoding="latin-1") as fh:
            raw_lines = fh.read(1 << 20).splitlines()  # headers are a few hundred bytes
    except FileNotFoundError:
        raise ValueError(f"WFDB header not found: {path}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the header ({exc.strerror})") from None
    comments = [ln.lstrip("#").strip() for ln in raw_lines if ln.lstrip().startswith("#")]
    lines = [ln.strip() for ln in raw_lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{path}: empty header (no record line)")
    rec = lines[0].split()
    if "/" in rec[0]:
        raise ValueError(f"{path}: multi-segment records are not supported")
    if len(rec) < 2:
        raise ValueError(f"{path}: record line needs a name and a number of signals: {lines[0]!r}")
    try:
        n_sig = int(rec[1])
        fs = float(rec[2].split("/")[0].split("(")[0]) if len(rec) > 2 else 250.0
        n_samples = int(rec[3]) if len(rec) > 3 else None
    except ValueError:
        raise ValueError(f"{path}: cannot parse the record line {lines[0]!r}") from None
    if not 0 <= n_sig <= 1024 or not 0 < fs <= 1e6:  # also refuses fs = nan or inf
        raise ValueError(f"{path}: bad number of signals {n_sig} or sampling frequency {fs} "
                         f"(need 0..1024 signals and 0 < fs <= 1e6 Hz)")
    if n_samples is not None and n_samples < 0:
        raise ValueError(f"{path}: negative number of samples {n_samples}")
    sig_lines = lines[1:1 + n_sig]
    if len(sig_lines) < n_sig:
        raise ValueError(f"{path}: header announces {n_sig} signals but has {len(sig_lines)} "
                         "signal lines (truncated?)")
    signals = [_parse_signal_line(ln, path) for ln in sig_lines]
    return Header(rec[0], n_sig, fs, n_samples, signals, comments)


# ----------------------------------------------------------------------------- signals
def decode_212(data: bytes | np.ndarray) -> np.ndarray:
    """Unpack format 212: every 3 bytes ``b0 b1 b2`` hold two 12-bit two's-complement samples,
    ``s0 = b0 | (b1 & 0x0F) << 8`` and ``s1 = b2 | (b1 & 0xF0) << 4``. Returns int16, shape (n,),
    in stream order (the leads stay interleaved). A trailing pair of bytes holds one sample."""
    b = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    n_full = len(b) // 3
    tri = b[: 3 * n_full].reshape(-1, 3).astype(np.int32)
    out = np.empty(2 * n_full + (1 if len(b) % 3 == 2 else 0), dtype=np.int32)
    out[0:2 * n_full:2] = tri[:, 0] | ((tri[:, 1] & 0x0F) << 8)
    out[1:2 * n_full:2] = tri[:, 2] | ((tri[:, 1] & 0xF0) << 4)
    if len(b) % 3 == 2:
        out[-1] = int(b[-2]) | ((int(b[-1]) & 0x0F) << 8)
    out[out > 2047] -= 4096     # 12-bit two's complement
    return out.astype(np.int16)


def encode_212(samples: np.ndarray) -> bytes:
    """Pack integer samples (stream order, each in [-2048, 2047]) into format 212 bytes."""
    s = np.asarray(samples, dtype=np.int64).ravel()
    if s.size and (s.min() < -2048 or s.max() > 2047):
        raise ValueError(f"samples: format 212 holds 12-bit values in [-2048, 2047], "
                         f"got range [{s.min()}, {s.max()}]")
    u = (s & 0xFFF).astype(np.uint16)
    if len(u) % 2:
        u = np.append(u, 0)
        odd = True
    else:
        odd = False
    lo, hi = u[0::2], u[1::2]
    tri = np.stack([lo & 0xFF, ((lo >> 8) & 0x0F) | ((hi >> 4) & 0xF0), hi & 0xFF], axis=1)
    out = tri.astype(np.uint8).tobytes()
    return out[:-1] if odd else out


def _decode(fmt: int, raw: bytes) -> np.ndarray:
    if fmt == 212:
        return decode_212(raw)
    if fmt == 16:
        return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")
    if fmt == 61:
        return np.frombuffer(raw[: len(raw) // 2 * 2], dtype=">i2")
    return np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128      # format 80


def _wfdb_checksum(x: np.ndarray) -> int:
    """The header checksum: the 16-bit signed sum of all samples of one signal."""
    s = int(np.sum(x, dtype=np.int64)) & 0xFFFF
    return s - 0x10000 if s > 0x7FFF else s


def read_record(record: str, verify_checksum: bool = True) -> Record:
    """Read a WFDB record. ``record`` is the path without extension (``.../ecg/100``), as the
    WFDB tools take it. Returns a :class:`Record` with ``signals`` shape (n_signals, n_samples)."""
    if record.endswith(".hea"):
        record = record[:-4]
    header = read_header(record)
    directory = os.path.dirname(record)
    n_sig = header.n_signals
    if n_sig == 0:
        raise ValueError(f"{record}.hea: the record has no signals")
    # Signals stored in the same file are interleaved frame by frame, in header order.
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(header.signals):
        groups.setdefault(s.file_name, []).append(i)
    columns: list[np.ndarray | None] = [None] * n_sig
    for file_name, idx in groups.items():
        fmts = {header.signals[i].fmt for i in idx}
        if len(fmts) != 1:
            raise ValueError(f"{file_name}: signals sharing one file must share a format, got {fmts}")
        fmt = fmts.pop()
        path = os.path.join(directory, file_name)
        try:
            if os.path.exists(path) and not os.path.isfile(path):
                raise ValueError(f"{path}: not a regular file (a folder, FIFO or device)")
            with open(path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            raise ValueError(f"WFDB signal file not found: {path}") from None
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the signal file ({exc.strerror})") from None
        raw = raw[header.signals[idx[0]].byte_offset:]
        stream = _decode(fmt, raw)
        k = len(idx)
        n_frames = len(stream) // k
        if header.n_samples is not None and n_frames < header.n_samples:
            raise ValueError(f"{path}: truncated signal file: header says {header.n_samples} "
                             f"samples per signal, file holds {n_frames} ({len(raw)} bytes)")
        if header.n_samples is not None:
            n_frames = header.n_samples
        frames = stream[: n_frames * k].reshape(n_frames, k)
        for j, i in enumerate(idx):
            columns[i] = frames[:, j]
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise ValueError(f"{record}: signal files hold different numbers of samples {lengths}")
    digital = np.stack(columns).astype(np.int16) if n_sig else np.zeros((0, 0), np.int16)
    for i, s in enumerate(header.signals):
        if verify_checksum and s.checksum is not None and _wfdb_checksum(digital[i]) != s.checksum:
            raise ValueError(f"{os.path.join(directory, s.file_name)}: checksum of signal {i} "
                             f"({s.description!r}) is {_wfdb_checksum(digital[i])}, header says "
                             f"{s.checksum} (corrupt or truncated file?)")
    gains = np.array([s.gain for s in header.signals], dtype=np.float64)[:, None]
    baselines = np.array([s.baseline for s in header.signals], dtype=np.float64)[:, None]
    physical = (digital.astype(np.float64) - baselines) / gains   # mV = (adu - baseline) / gain
    invalid = digital == np.array([-2048 if s.fmt == 212 else -32768 for s in header.signals],
                                  dtype=np.int16)[:, None]
    physical[invalid] = np.nan      # WFDB's "invalid sample" marker
    return Record(header.record_name, header.fs, physical, digital,
                  [s.description or f"sig{i}" for i, s in enumerate(header.signals)],
                  [s.units for s in header.signals], header)


# ----------------------------------------------------------------------------- annotations
def read_annotations(path: str, extension: str = "atr") -> Annotations:
    """Read an MIT-format annotation file (``path`` with its extension, or the record path plus
    ``extension``).

    Each 16-bit little-endian word holds a 6-bit code ``A = w >> 10`` and a 10-bit time increment
    ``I = w & 0x3FF``. Pseudo-codes after an annotation word modify that annotation
    (SUB/CHN/NUM set its fields; AUX is followed by ``I & 0xFF`` bytes padded to an even length);
    SKIP is followed by a 32-bit increment (high 16-bit word first) added to the running time.
    The word 0 ends the file. CHN and NUM persist from one annotation to the next; SUB does not.
    """
    if not os.path.splitext(path)[1] or not os.path.exists(path):
        if os.path.exists(path + "." + extension):
            path = path + "." + extension
    try:
        if os.path.exists(path) and not os.path.isfile(path):
            raise ValueError(f"{path}: not a regular file (a folder, FIFO or device)")
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ValueError(f"WFDB annotation file not found: {path}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the annotation file ({exc.strerror})") from None
    if len(data) % 2:
        raise ValueError(f"{path}: annotation file has an odd number of bytes ({len(data)}): truncated")
    words = np.frombuffer(data, dtype="<u2")
    n = len(words)
    samples, codes, subtypes, chans, nums, aux = [], [], [], [], [], []
    t = 0
    chan = num = 0
    i = 0
    ended = False
    while i < n:
        w = int(words[i])
        a, inc = w >> 10, w & 0x3FF
        i += 1
        if w == 0:
            ended = True
            break
        if a == SKIP:
            if i + 2 > n:
                raise ValueError(f"{path}: truncated SKIP at byte {2 * (i - 1)} (needs 4 more bytes)")
            skip = (int(words[i]) << 16) | int(words[i + 1])
            if skip >= 1 << 31:
                skip -= 1 << 32      # the increment is a signed 32-bit number
            t += skip
            i += 2
        elif a in (NUM, SUB, CHN, AUX):
            if not codes:
                raise ValueError(f"{path}: pseudo-annotation code {a} before any annotation "
                                 f"at byte {2 * (i - 1)}")
            if a == NUM:
                num = inc
                nums[-1] = num
            elif a == SUB:
                subtypes[-1] = inc
            elif a == CHN:
                chan = inc
                chans[-1] = chan
            else:
                length = inc & 0xFF
                n_words = (length + 1) // 2
                if i + n_words > n:
                    raise ValueError(f"{path}: truncated AUX payload at byte {2 * (i - 1)} "
                                     f"(needs {length} bytes)")
                aux[-1] = words[i:i + n_words].tobytes()[:length]
                i += n_words
        else:
            t += inc
            samples.append(t)
            codes.append(a)
            subtypes.append(0)
            chans.append(chan)
            nums.append(num)
            aux.append(b"")
    if not ended:
        raise ValueError(f"{path}: annotation file ends without the end-of-file word 0 (truncated)")
    codes_arr = np.array(codes, dtype=np.int64)
    return Annotations(np.array(samples, dtype=np.int64), codes_arr,
                       [ANNOTATION_SYMBOLS.get(c, f"[{c}]") for c in codes],
                       np.array(subtypes, dtype=np.int64), np.array(chans, dtype=np.int64),
                       np.array(nums, dtype=np.int64), aux)
