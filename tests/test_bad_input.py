"""Hostile input to the four command lines (issue 13): every probe must end with exit status 2
(bad input) or 1 (an output could not be written), exactly one line on stderr that names the
argument or the file, no traceback, and no file changed that should not change.

The face probes use a tiny encoder (16 x 16 input) saved once per module, so the whole file runs
in seconds; nothing here trains for more than a few steps.
"""
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from minicnn.bench.__main__ import main as bench_main
from minicnn.ecg.cli import main as ecg_main
from minicnn.face.cli import main as face_main
from minicnn.face.database import FaceDatabase
from minicnn.face.encoder import FaceEncoder
from minicnn.style.cli import main as style_main
from minicnn.visualize.__main__ import main as visualize_main
from minicnn.volume.cli import main as volume_main

MAINS = {"face": face_main, "style": style_main, "visualize": visualize_main, "ecg": ecg_main,
         "volume": volume_main, "bench": bench_main}


def run_cli(which, argv, capsys):
    """Run a command line in-process -> (exit status, stdout, stderr)."""
    try:
        code = MAINS[which]([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, want_code, *needles):
    assert code == want_code, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def snapshot(folder):
    """{relative path: (bytes, mode)} of every file under ``folder`` (lock files aside)."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            if not f.endswith(".lock"):
                p = os.path.join(root, f)
                out[os.path.relpath(p, folder)] = (open(p, "rb").read(), os.stat(p).st_mode)
    return out


def noise_png(path, seed, size=(40, 40)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0])).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    """A folder with a tiny face model, a database of one person and a few pictures."""
    d = tmp_path_factory.mktemp("face")
    model = FaceEncoder(input_size=(16, 16), widths=(4, 8), embedding_dim=8)
    model.threshold = 0.5
    model.save(d / "model.npz")
    noise_png(d / "alice.png", 1)
    noise_png(d / "bob.png", 2)
    Image.fromarray(np.zeros((480, 640), np.uint8)).save(d / "black.png")
    Image.fromarray(np.full((50, 50), 128, np.uint8)).save(d / "gray.png")
    Image.fromarray(np.full((1, 1), 200, np.uint8)).save(d / "dot.png")
    db = FaceDatabase(model)
    db.enroll("alice", str(d / "alice.png"))
    db.save(d / "people.npz")
    return d


@pytest.fixture
def work(face, tmp_path):
    """A private copy of the face folder (probes may try to damage it)."""
    for f in os.listdir(face):
        if not f.startswith("."):
            (tmp_path / f).write_bytes((face / f).read_bytes())
    return tmp_path


# ------------------------------------------------------------------ numbers (item 14, 7)
@pytest.mark.parametrize("which, argv, needle", [
    ("face", ["train", "--out", "{d}/m2.npz", "--steps", "0"], "--steps"),
    ("face", ["train", "--out", "{d}/m2.npz", "--steps", "-5"], "--steps"),
    ("face", ["train", "--out", "{d}/m2.npz", "--size", "0"], "--size"),
    ("face", ["train", "--out", "{d}/m2.npz", "--epochs", "0"], "--epochs"),
    ("face", ["train", "--out", "{d}/m2.npz", "--alpha", "-1"], "--alpha"),
    ("face", ["train", "--out", "{d}/m2.npz", "--max-time", "-1"], "--max-time"),
    ("face", ["train", "--out", "{d}/m2.npz", "--lr", "nan"], "--lr"),
    ("face", ["train", "--out", "{d}/m2.npz", "--lr", "inf"], "--lr"),
    ("face", ["train", "--out", "{d}/m2.npz", "-P", "1"], "-P"),
    ("face", ["train", "--out", "{d}/m2.npz", "--members", "0"], "--members"),
    ("face", ["train", "--out", "{d}/m2.npz", "--dim", "0"], "--dim"),
    ("face", ["evaluate", "--model", "{d}/model.npz", "--trials", "0"], "--trials"),
    ("face", ["evaluate", "--model", "{d}/model.npz", "--trials", "-3"], "--trials"),
    ("face", ["evaluate", "--model", "{d}/model.npz", "--ways", "1"], "--ways"),
    ("face", ["crossval", "--data", "{d}", "--folds", "1"], "--folds"),
    ("face", ["verify", "--model", "{d}/model.npz", "--db", "{d}/people.npz", "--tau", "inf", "alice",
              "{d}/alice.png"], "--tau"),
    ("face", ["verify", "--model", "{d}/model.npz", "--db", "{d}/people.npz", "--tau", "nan", "alice",
              "{d}/alice.png"], "--tau"),
    ("face", ["identify", "--model", "{d}/model.npz", "--db", "{d}/people.npz", "--tau", "-1",
              "{d}/alice.png"], "--tau"),
    ("face", ["enroll", "--model", "{d}/model.npz", "--db", "{d}/people.npz", "--tau", "nan", "bob",
              "{d}/bob.png"], "--tau"),
    ("face", ["enroll", "--model", "{d}/model.npz", "--db", "{d}/people.npz", "--tau", "5", "bob",
              "{d}/bob.png"], "--tau"),
    ("style", ["--out", "{d}/o.png", "--lr", "inf"], "--lr"),
    ("style", ["--out", "{d}/o.png", "--beta", "-40"], "--beta"),
    ("style", ["--out", "{d}/o.png", "--alpha", "-1"], "--alpha"),
    ("style", ["--out", "{d}/o.png", "--width", "0"], "--width"),
    ("style", ["--out", "{d}/o.png", "--size", "0"], "--size"),
    ("style", ["--out", "{d}/o.png", "--steps", "0"], "--steps"),
    ("style", ["--out", "{d}/o.png", "--noise-ratio", "2"], "--noise-ratio"),
    ("style", ["--out", "{d}/o.png", "--alpha", "0", "--beta", "0"], "--alpha and --beta"),
    ("visualize", ["--out", "{d}/v.png", "--k", "0"], "--k"),
    ("visualize", ["--out", "{d}/v.png", "--n-images", "0"], "--n-images"),
    ("visualize", ["--out", "{d}/v.png", "--units", "-1"], "--units"),
    ("ecg", ["--out", "{d}/sig", "--steps", "0"], "--steps"),
    ("ecg", ["--out", "{d}/sig", "--train-minutes", "nan"], "--train-minutes"),
    ("volume", ["--out", "{d}/sig", "--epochs", "0"], "--epochs"),
    ("volume", ["--out", "{d}/sig", "--n-train", "0"], "--n-train"),
    ("bench", ["--threads", "0"], "--threads"),
    ("bench", ["--threads", "many"], "--threads"),
])
def test_numbers_out_of_range_are_usage_errors(work, capsys, which, argv, needle):
    before = snapshot(work)
    code, _, err = run_cli(which, [a.format(d=work) for a in argv], capsys)
    assert_one_line(code, err, 2, needle)
    assert snapshot(work) == before


# ------------------------------------------------------------------ face files (items 2, 6, 8, 11, 16, 17)
def enroll(work, *rest, db="people.npz", model="model.npz"):
    return ["enroll", "--model", work / model, "--db", work / db, *rest]


def test_enroll_without_suffix_reads_and_writes_the_same_file(work, capsys):
    (work / "people").write_text("my notes, not a database")
    code, out, _ = run_cli("face", enroll(work, "bob", work / "bob.png", db="people"), capsys)
    assert code == 0 and "2 people in" in out and str(work / "people.npz") in out
    assert (work / "people").read_text() == "my notes, not a database"
    code, out, _ = run_cli("face", enroll(work, "carol", work / "bob.png", db="people"), capsys)
    assert code == 0 and "3 people" in out  # the same file was read back, not replaced


@pytest.mark.parametrize("db, needle", [("model", "model.npz"), ("model.npz", "model.npz"),
                                        ("notes.txt", "notes.txt")])
def test_enroll_never_overwrites_a_file_of_another_kind(work, capsys, db, needle):
    (work / "notes.txt").write_text("hello")
    before = snapshot(work)
    code, _, err = run_cli("face", enroll(work, "bob", work / "bob.png", db=db), capsys)
    assert_one_line(code, err, 2, needle, "not overwriting")
    assert snapshot(work) == before


def test_train_refuses_to_overwrite_a_database_before_training(work, capsys):
    before = snapshot(work)
    code, _, err = run_cli("face", ["train", "--out", work / "people.npz", "--steps", "1"], capsys)
    assert_one_line(code, err, 2, "people.npz", "not overwriting")
    assert snapshot(work) == before


@pytest.mark.parametrize("picture, needle", [("black.png", "blank"), ("gray.png", "blank"),
                                             ("dot.png", "1x1 pixels")])
def test_blank_and_tiny_pictures_are_refused_everywhere(work, capsys, picture, needle):
    before = snapshot(work)
    img = work / picture
    for argv in (enroll(work, "eve", img),
                 ["verify", "--model", work / "model.npz", "--db", work / "people.npz", "alice", img],
                 ["identify", "--model", work / "model.npz", "--db", work / "people.npz", img]):
        code, out, err = run_cli("face", argv, capsys)
        assert_one_line(code, err, 2, picture, needle)
        assert "MATCH" not in out
    assert snapshot(work) == before


@pytest.mark.parametrize("name", ["bad\nname", "red\x1b[31m", "rtl\u202eevil", "   ", "nul\x00"])
def test_names_with_control_characters_are_refused(work, capsys, name):
    before = snapshot(work)
    code, _, err = run_cli("face", enroll(work, name, work / "bob.png"), capsys)
    assert_one_line(code, err, 2, "name")
    assert snapshot(work) == before


def _bomb_png(path, side=20000):
    """A PNG header announcing side x side pixels (Pillow refuses it before decoding)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def _truncated(src, dst):
    dst.write_bytes(src.read_bytes()[: len(src.read_bytes()) // 2])
    return dst


@pytest.mark.parametrize("case", ["bomb", "folder", "missing", "text"])
def test_bad_picture_files(work, capsys, case):
    img = {"bomb": lambda: _bomb_png(work / "huge.png"), "folder": lambda: work,
           "missing": lambda: work / "nobody.png",
           "text": lambda: (work / "t.png").write_text("hello") and work / "t.png"}[case]()
    before = snapshot(work)
    code, _, err = run_cli("face", ["verify", "--model", work / "model.npz", "--db", work / "people.npz",
                                    "alice", img], capsys)
    assert_one_line(code, err, 2, os.path.basename(img))
    assert snapshot(work) == before


def test_a_fifo_is_refused_not_read(work):
    fifo = work / "pipe.png"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-m", "minicnn.face", "verify", "--model", str(work / "model.npz"),
                        "--db", str(work / "people.npz"), "alice", str(fifo)],
                       capture_output=True, text=True, timeout=120)
    assert_one_line(r.returncode, r.stderr, 2, "pipe.png", "not a regular file")


def _crafted(work, meta=None, arrays=None, name="crafted.npz", base="model.npz"):
    """A copy of ``base`` with its metadata replaced (dict, or raw JSON text) and arrays changed."""
    with np.load(work / base) as f:
        data = {k: f[k] for k in f.files}
    if meta is not None:
        data["__meta__"] = np.array(meta if isinstance(meta, str) else json.dumps(meta))
    data.update(arrays or {})
    with open(work / name, "wb") as fh:
        np.savez(fh, **data)
    return work / name


def _meta(work, base="model.npz", **changes):
    with np.load(work / base) as f:
        meta = json.loads(str(f["__meta__"]))
    meta.update(changes)
    return meta


MODEL_CASES = {
    "truncated": lambda w: _truncated(w / "model.npz", w / "crafted.npz"),
    "not json": lambda w: _crafted(w, "{not json"),
    "json list": lambda w: _crafted(w, "[1, 2]"),
    "no config": lambda w: _crafted(w, {k: v for k, v in _meta(w).items() if k != "config"}),
    "unknown key": lambda w: _crafted(w, _meta(w, config={**_meta(w)["config"], "colour": 3})),
    "absurd input_size": lambda w: _crafted(w, _meta(w, config={**_meta(w)["config"], "input_size": [10**6] * 2})),
    "threshold text": lambda w: _crafted(w, _meta(w, threshold="low")),
    "threshold nan": lambda w: _crafted(w, json.dumps(_meta(w, threshold=float("nan")))),
    "nan weights": lambda w: _crafted(w, arrays={"fc.bias": np.full(8, np.nan, np.float32)}),
    "partial": lambda w: _crafted(w, _meta(w, info={"partial": True})),
    "a database": lambda w: w / "people.npz",
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_damaged_models_are_refused_in_one_line(work, capsys, case):
    path = MODEL_CASES[case](work)
    code, out, err = run_cli("face", ["verify", "--model", path, "--db", work / "people.npz", "alice",
                                      work / "alice.png"], capsys)
    assert_one_line(code, err, 2, os.path.basename(path))
    assert "MATCH" not in out


DB_CASES = {
    "truncated": lambda w: _truncated(w / "people.npz", w / "db.npz"),
    "more names than owners": lambda w: _crafted(w, _meta(w, "people.npz", names=["alice", "bob"]), name="db.npz",
                                                 base="people.npz"),
    "encodings without names": lambda w: _crafted(w, _meta(w, "people.npz", names=[]), name="db.npz",
                                                  base="people.npz"),
    "nan encodings": lambda w: _crafted(w, arrays={"encodings": np.full((1, 8), np.nan, np.float32)},
                                        name="db.npz", base="people.npz"),
    "name with escape": lambda w: _crafted(w, _meta(w, "people.npz", names=["\x1b[2Jalice"]), name="db.npz",
                                           base="people.npz"),
    "tau inf": lambda w: _crafted(w, json.dumps(_meta(w, "people.npz", tau=1e999)), name="db.npz",
                                  base="people.npz"),
}


@pytest.mark.parametrize("case", list(DB_CASES))
def test_damaged_databases_are_refused_in_one_line(work, capsys, case):
    path = DB_CASES[case](work)
    code, out, err = run_cli("face", ["identify", "--model", work / "model.npz", "--db", path,
                                      work / "alice.png"], capsys)
    assert_one_line(code, err, 2, "db.npz")
    assert "alice" not in out


def test_unwritable_plots_folder_is_one_line_exit_1(work, capsys):
    (work / "file").write_text("x")
    code, _, err = run_cli("face", ["evaluate", "--model", work / "model.npz", "--plots", work / "file" / "plots",
                                    "--trials", "5"], capsys)
    assert_one_line(code, err, 1, "--plots")


@pytest.mark.parametrize("command", ["enroll", "train"])
def test_unwritable_database_or_model_folder_is_one_line_exit_1(work, capsys, command):
    (work / "file").write_text("x")
    argv = (enroll(work, "bob", work / "bob.png", db="file/sub/people.npz") if command == "enroll"
            else ["train", "--out", work / "file" / "m.npz", "--steps", "1"])
    before = snapshot(work)
    code, _, err = run_cli("face", argv, capsys)
    assert_one_line(code, err, 1, "file")
    assert snapshot(work) == before


def test_evaluate_json_is_valid_json(work, capsys):
    for k in range(6):  # 3 people x 2 pictures: enough for every metric, quick to embed
        (work / "folder" / f"p{k // 2}").mkdir(parents=True, exist_ok=True)
        noise_png(work / "folder" / f"p{k // 2}" / f"{k}.png", 10 + k)
    code, out, _ = run_cli("face", ["evaluate", "--model", work / "model.npz", "--data", work / "folder", "--json",
                                    "--trials", "20", "--ways", "2"], capsys)
    assert code == 0
    json.loads(out, parse_constant=lambda c: pytest.fail(f"invalid JSON token {c}"))


# ------------------------------------------------------------------ style (items 4, 14, 16)
FAST = ["--size", "32", "--steps", "1", "--quiet"]


@pytest.fixture
def pictures(tmp_path):
    for name, seed in (("cat.png", 1), ("paint.png", 2)):
        rng = np.random.default_rng(seed)
        Image.fromarray(rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)).save(tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("out", ["cat.png", "link.png", "theirs.png", "cat"])
def test_style_never_replaces_an_input_or_a_file_it_did_not_make(pictures, capsys, out):
    os.symlink(pictures / "cat.png", pictures / "link.png")
    noise_png(pictures / "theirs.png", 5)
    before = snapshot(pictures)
    code, _, err = run_cli("style", ["--content", pictures / "cat.png", "--style", pictures / "paint.png",
                                     "--out", pictures / out, *FAST], capsys)
    assert_one_line(code, err, 2, "--out")
    assert snapshot(pictures) == before


def test_style_force_replaces_and_reruns_replace_its_own_output(pictures, capsys):
    noise_png(pictures / "theirs.png", 5)
    argv = ["--content", pictures / "cat.png", "--style", pictures / "paint.png", "--out", pictures / "theirs.png",
            *FAST]
    assert run_cli("style", [*argv, "--force"], capsys)[0] == 0
    first = (pictures / "theirs.png").read_bytes()
    assert run_cli("style", argv, capsys)[0] == 0  # its own file now: no --force needed
    assert (pictures / "theirs.png").read_bytes() == first  # same seed, same result


def test_style_truncated_weights(pictures, capsys, tmp_path):
    import minicnn as mc

    mc.save({"features.0.weight": np.zeros((4, 3, 3, 3), np.float32)}, tmp_path / "w.npz")
    _truncated(tmp_path / "w.npz", tmp_path / "bad.npz")
    code, _, err = run_cli("style", ["--weights", tmp_path / "bad.npz", "--out", tmp_path / "o.png", *FAST], capsys)
    assert_one_line(code, err, 2, "bad.npz")


# ------------------------------------------------------------------ visualize (items 16, 20)
def test_visualize_refuses_a_non_png_out(tmp_path, capsys):
    code, _, err = run_cli("visualize", ["--out", tmp_path / "x.jpg", "--quick"], capsys)
    assert_one_line(code, err, 2, "--out", "x.jpg")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flag", ["--model", "--data"])
def test_visualize_truncated_npz(tmp_path, capsys, flag):
    np.savez(tmp_path / "a.npz", images=np.zeros((4, 3, 8, 8), np.float32))
    _truncated(tmp_path / "a.npz", tmp_path / "bad.npz")
    code, _, err = run_cli("visualize", [flag, tmp_path / "bad.npz", "--out", tmp_path / "v.png", "--quick"], capsys)
    assert_one_line(code, err, 2, "bad.npz")


# ------------------------------------------------------------------ ecg and volume (items 18, 19)
def _record(folder, header, dat=b"\x00" * 30):
    (folder / "r.dat").write_bytes(dat)
    (folder / "r.atr").write_bytes(b"\x00\x00")
    (folder / "r.hea").write_text(header)
    return folder / "r"


@pytest.mark.parametrize("header, needle", [
    ("r 0 360 10\n", "no signals"),
    ("r 1 inf 10\nr.dat 212 200 11 0 0 0 0 MLII\n", "sampling frequency"),
    ("r 1 nan 10\nr.dat 212 200 11 0 0 0 0 MLII\n", "sampling frequency"),
    ("r 1 360 10\n../../etc/passwd 212 200 11 0 0 0 0 MLII\n", "../../etc/passwd"),
    ("r 1 360 10\n/dev/zero 16 200 11 0 0 0 0 MLII\n", "/dev/zero"),
    ("r 1 360 10\nr.dat 212+x 200 11 0 0 0 0 MLII\n", "r.hea"),
    ("r 1 360 10\nr.dat 212 nan 11 0 0 0 0 MLII\n", "gain"),
    ("folder", "r.hea"),
])
def test_bad_wfdb_records(tmp_path, capsys, header, needle):
    if header == "folder":
        os.mkdir(tmp_path / "r.hea")
        rec = tmp_path / "r"
    else:
        rec = _record(tmp_path, header)
    code, _, err = run_cli("ecg", ["--record", rec, "--out", tmp_path / "out", "--quick"], capsys)
    assert_one_line(code, err, 2, needle)


def test_ecg_out_is_an_existing_file(tmp_path, capsys):
    (tmp_path / "metrics").write_text("keep me")
    code, _, err = run_cli("ecg", ["--out", tmp_path / "metrics", "--quick"], capsys)
    assert_one_line(code, err, 2, "--out", "metrics")
    assert (tmp_path / "metrics").read_text() == "keep me"


def test_volume_out_that_cannot_be_created_is_exit_1(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli("volume", ["--out", tmp_path / "file" / "sub", "--quick"], capsys)
    assert_one_line(code, err, 1, "--out")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_exit_1(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    code, _, err = run_cli("volume", ["--out", ro, "--quick"], capsys)
    assert_one_line(code, err, 1, "--out")


def test_default_output_folders_are_ignored_by_git():
    ignore = open(os.path.join(os.path.dirname(__file__), "..", ".gitignore")).read().split()
    for name in ("minicnn-ecg-output/", "minicnn-volume-output/", "stylized.png", "visualize_sheet.png"):
        assert name in ignore or "/" + name in ignore, name


# ------------------------------------------------------------------ data folders (item 17)
def test_data_folder_links_loops_and_fifos_are_skipped(tmp_path):
    import warnings

    from minicnn.face.data import FaceDataWarning, scan_folder

    root, outside = tmp_path / "people", tmp_path / "elsewhere"
    for d in (root / "ann", root / "ben", outside / "carl"):
        d.mkdir(parents=True)
    for k, d in enumerate((root / "ann", root / "ben", outside / "carl")):
        noise_png(d / "1.png", k)
    os.symlink(outside / "carl", root / "carl")     # a sub-folder linked outside the data folder
    os.symlink(root / "self", root / "self")        # a link to itself (a loop)
    os.symlink(root / "ann", root / "ann2")         # a link inside: followed
    os.mkfifo(root / "ben" / "pipe.png")            # never opened
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = scan_folder(str(root))
    assert sorted(name for name, _ in items) == ["ann", "ann2", "ben"]
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, FaceDataWarning))
    assert "outside the data folder" in said and "self: cannot follow it" in said


# ------------------------------------------------------------------ property checks


@given(st.text(max_size=12))
def test_tau_parser_accepts_exactly_finite_numbers_in_range(text):
    import argparse

    from minicnn.cli_args import float_range

    try:
        value = float(text)
    except ValueError:
        value = None
    try:
        got = float_range(0, 4)(text)
    except argparse.ArgumentTypeError:
        assert value is None or not 0 <= value <= 4
    else:
        assert got == value and 0 <= got <= 4


@given(st.text(min_size=1, max_size=12))
def test_accepted_names_are_printable(name):
    import unicodedata

    from minicnn.cli_args import check_name

    try:
        check_name(name)
    except ValueError:
        return
    assert name.strip() and all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name)
