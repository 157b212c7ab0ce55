"""WFDB reader: hand-written headers, format 212/16 bytes and MIT annotation words, errors on
bad or truncated files, and (when ../shared/data is present) the real MIT-BIH record 100."""
import struct

import numpy as np
import pytest

from minicnn.ecg import wfdb
from minicnn.ecg.scipy_ecg import load_scipy_ecg
from minicnn.ecg.wfdb import decode_212, encode_212, read_annotations, read_header, read_record


# ----------------------------------------------------------------------------- format 212
def test_212_hand_packed_positive_samples():
    # 995 = 0x3E3, 1011 = 0x3F3 -> b0 = low byte of s0, b1 = high nibbles (s1 << 4 | s0), b2 = low of s1
    assert decode_212(bytes([0xE3, 0x33, 0xF3])).tolist() == [995, 1011]


def test_212_hand_packed_negative_samples():
    # -1 = 0xFFF and 2047 = 0x7FF; -2048 = 0x800 and 1 = 0x001
    assert decode_212(bytes([0xFF, 0x7F, 0xFF])).tolist() == [-1, 2047]
    assert decode_212(bytes([0x00, 0x08, 0x01])).tolist() == [-2048, 1]
    # -300 = 0xED4 (s0) and -5 = 0xFFB (s1)
    assert decode_212(bytes([0xD4, 0xFE, 0xFB])).tolist() == [-300, -5]


def test_212_roundtrip_and_odd_length():
    rng = np.random.default_rng(0)
    s = rng.integers(-2048, 2048, size=101)
    raw = encode_212(s)
    assert len(raw) == 152                   # 50 full triples (150 bytes) + 2 bytes for the last one
    assert decode_212(raw).tolist() == s.tolist()
    with pytest.raises(ValueError, match="12-bit"):
        encode_212([4000])


# ----------------------------------------------------------------------------- records
def _write_record(tmp_path, digital, fmt=212, n_samples=None, checksums=True, extra=""):
    """digital: (n_signals, n) ints. Writes rec.hea and rec.dat; returns the record path."""
    n_sig, n = digital.shape
    stream = digital.T.ravel()               # leads interleaved frame by frame
    raw = encode_212(stream) if fmt == 212 else stream.astype("<i2").tobytes()
    (tmp_path / "rec.dat").write_bytes(raw)
    lines = [f"rec {n_sig} 250 {n if n_samples is None else n_samples}"]
    for i in range(n_sig):
        cs = int(np.sum(digital[i])) & 0xFFFF
        cs = cs - 0x10000 if cs > 0x7FFF else cs
        check = f" {cs} 0" if checksums else ""
        lines.append(f"rec.dat {fmt} 100(10)/mV 12 0 {digital[i, 0]}{check} lead{i}")
    (tmp_path / "rec.hea").write_text("# a comment line\n" + "\n".join(lines) + "\n" + extra)
    return str(tmp_path / "rec")


@pytest.mark.parametrize("fmt", [212, 16])
def test_read_record_two_leads(tmp_path, fmt):
    digital = np.array([[10, -20, 2047, -2048 + 1, 0], [110, 0, -1, 5, -300]])
    path = _write_record(tmp_path, digital, fmt=fmt)
    rec = read_record(path)
    assert rec.fs == 250 and rec.names == ["lead0", "lead1"] and rec.units == ["mV", "mV"]
    assert rec.digital.tolist() == digital.tolist()
    # physical = (digital - baseline) / gain with gain 100 adu/mV and baseline 10
    np.testing.assert_allclose(rec.signals, (digital - 10) / 100.0)
    np.testing.assert_allclose(rec.lead("lead1"), (digital[1] - 10) / 100.0)
    with pytest.raises(ValueError, match="not in record"):
        rec.lead("V5")


def test_header_fields_and_defaults(tmp_path):
    (tmp_path / "h.hea").write_text("h 2 360 1000\nx.dat 16+24 0 12 5 0\ny.dat 212 200/uV\n\n# note\n")
    h = read_header(str(tmp_path / "h"))
    a, b = h.signals
    assert (h.n_signals, h.fs, h.n_samples, h.comments) == (2, 360.0, 1000, ["note"])
    assert (a.fmt, a.byte_offset, a.gain, a.baseline, a.units) == (16, 24, 200.0, 5, "mV")  # gain 0 -> 200
    assert (b.fmt, b.gain, b.units, b.baseline) == (212, 200.0, "uV", 0)


def test_truncated_and_bad_files(tmp_path):
    digital = np.arange(20).reshape(2, 10)
    path = _write_record(tmp_path, digital)
    data = (tmp_path / "rec.dat").read_bytes()
    (tmp_path / "rec.dat").write_bytes(data[:-6])
    with pytest.raises(ValueError, match=r"rec\.dat.*truncated"):
        read_record(path)
    # a flipped byte is caught by the header checksum
    (tmp_path / "rec.dat").write_bytes(data[:4] + bytes([data[4] ^ 0x01]) + data[5:])
    with pytest.raises(ValueError, match="checksum"):
        read_record(path)
    assert read_record(path, verify_checksum=False).digital.shape == (2, 10)
    (tmp_path / "rec.hea").write_text("rec 2 250 10\nrec.dat 212 200 12 0 0\n")
    with pytest.raises(ValueError, match=r"rec\.hea.*2 signals.*1 signal lines"):
        read_record(path)
    (tmp_path / "rec.hea").write_text("rec 1 250 10\nrec.dat 311 200\n")
    with pytest.raises(ValueError, match="format 311"):
        read_record(path)
    with pytest.raises(ValueError, match="not found"):
        read_record(str(tmp_path / "missing"))


# ----------------------------------------------------------------------------- annotations
def _w(code, inc=0):
    return struct.pack("<H", (code << 10) | inc)


def _skip(n):
    # PDP-11 long: high 16-bit word first, each word little-endian
    u = n & 0xFFFFFFFF
    return _w(59) + struct.pack("<HH", u >> 16, u & 0xFFFF)


def test_annotations_codes_skip_aux_num_sub_chn(tmp_path):
    data = (_w(1, 100)                         # N at 100
            + _w(5, 50) + _w(61, 2)            # V at 150, subtype 2
            + _skip(70000) + _w(8, 10)         # SKIP 70000, then A at 150 + 70010
            + _w(63, 3) + b"(AB" + b"\x00"     # AUX of 3 bytes, padded to 4
            + _w(62, 1) + _w(60, 7)            # CHN 1, NUM 7 (both persist)
            + _w(28, 1023)                     # '+' rhythm label 1023 later
            + _skip(-5) + _w(1, 0)             # a negative skip
            + _w(0))
    (tmp_path / "r.atr").write_bytes(data)
    ann = read_annotations(str(tmp_path / "r"))          # extension added
    assert ann.samples.tolist() == [100, 150, 70160, 71183, 71178]
    assert ann.codes.tolist() == [1, 5, 8, 28, 1]
    assert ann.symbols == ["N", "V", "A", "+", "N"]
    assert ann.subtypes.tolist() == [0, 2, 0, 0, 0]      # SUB does not persist
    assert ann.channels.tolist() == [0, 0, 1, 1, 1]
    assert ann.nums.tolist() == [0, 0, 7, 7, 7]
    assert ann.aux == [b"", b"", b"(AB", b"", b""]
    beats = ann.beats()
    assert beats.symbols == ["N", "V", "A", "N"] and len(beats) == 4


@pytest.mark.parametrize("cut, msg", [(1, "odd number"), (2, "end-of-file"),
                                      (4, "truncated SKIP"), (8, "truncated AUX")])
def test_truncated_annotations(tmp_path, cut, msg):
    data = _w(1, 10) + _skip(5) + _w(1, 1) + _w(63, 5) + b"hello\x00" + _w(0)
    cut_at = {1: len(data) - 1, 2: len(data) - 2, 4: 4, 8: len(data) - 6}[cut]
    path = tmp_path / "t.atr"
    path.write_bytes(data[:cut_at])
    with pytest.raises(ValueError, match=rf"t\.atr.*{msg}|{msg}.*t\.atr"):
        read_annotations(str(path))


def test_pseudo_code_before_annotation_is_an_error(tmp_path):
    (tmp_path / "p.atr").write_bytes(_w(61, 1) + _w(0))
    with pytest.raises(ValueError, match="before any annotation"):
        read_annotations(str(tmp_path / "p.atr"))


def test_scipy_ecg_loader_errors(tmp_path):
    bad = tmp_path / "ecg.dat"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"ecg\.dat"):
        load_scipy_ecg(str(bad))
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="'ecg'"):
        load_scipy_ecg(str(tmp_path / "other.npz"))
    np.savez(tmp_path / "ok.npz", ecg=np.array([1024, 1224], dtype=np.uint16))
    x, fs = load_scipy_ecg(str(tmp_path / "ok.npz"))
    assert fs == 360.0 and x.tolist() == [0.0, 1.0]
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz"):
        load_scipy_ecg(str(tmp_path / "cut.npz"))


# ----------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_mitbih_record_100(shared_data):
    path = shared_data / "ecg" / "100"
    if not (shared_data / "ecg" / "100.hea").exists():
        pytest.skip("record 100 not in shared data")
    rec = read_record(str(path))
    assert rec.names == ["MLII", "V5"] and rec.fs == 360 and rec.signals.shape == (2, 650000)
    assert rec.digital[:, 0].tolist() == [995, 1011]
    np.testing.assert_allclose(rec.signals[:, 0], [(995 - 1024) / 200, (1011 - 1024) / 200])
    ann = read_annotations(str(path) + ".atr")
    counts = {s: ann.symbols.count(s) for s in set(ann.symbols)}
    assert counts["N"] == 2239 and counts["A"] == 33 and counts["V"] == 1
    assert int(np.sum(ann.codes == 8)) == 33 and int(np.sum(ann.codes == 5)) == 1
    assert np.all(np.diff(ann.samples) >= 0) and ann.samples[-1] < 650000


@pytest.mark.realdata
def test_scipy_ecg_dat(shared_data):
    path = shared_data / "ecg" / "ecg.dat"
    if not path.exists():
        pytest.skip("ecg.dat not in shared data")
    x, fs = load_scipy_ecg(str(path))
    assert fs == 360 and x.shape == (108000,)
    assert x.mean() == pytest.approx(-0.16511, abs=1e-5)
    assert x.std() == pytest.approx(0.59925, abs=1e-5)


def test_symbol_table():
    assert wfdb.ANNOTATION_SYMBOLS[1] == "N" and wfdb.ANNOTATION_SYMBOLS[5] == "V"
    assert wfdb.ANNOTATION_SYMBOLS[8] == "A" and wfdb.ANNOTATION_SYMBOLS[28] == "+"
    assert len(wfdb.ANNOTATION_SYMBOLS) == 42
