"""No data loss (issue 13, items 1-5): locked load-modify-save, one name rule, no overwriting of
another kind of file, checkpoints beside the model, and an atomic writer that keeps modes,
owners and links, refuses read-only targets, syncs to disk and never leaves its temp file."""
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn.face.checkpoint import load_model
from minicnn.face.database import FaceDatabase
from minicnn.face.encoder import FaceEncoder
from minicnn.io import atomic_write, file_lock, load_npz, npz_path, save_npz

TINY = dict(input_size=(16, 16), widths=(4, 8), embedding_dim=8)


def _leftovers(folder):
    return [f for f in os.listdir(folder) if f.endswith(".tmp")]


@pytest.fixture
def face(tmp_path):
    model = FaceEncoder(**TINY)
    model.threshold = 0.5
    model.save(tmp_path / "model.npz")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 40)).astype(np.uint8)).save(tmp_path / "a.png")
    return tmp_path


# ------------------------------------------------------------------ item 1: concurrent enrolls
PARALLEL_ENROLLS = """
import os, sys
import minicnn as mc
from minicnn.face.cli import main   # imported once; every child is a fresh fork that runs enroll
mc.set_backend("numpy")             # NumPy kernels: no Numba threads, so forking is safe (and quick)
folder, n, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
running, codes = set(), []
for k in range(n):
    if len(running) == width:
        pid, status = os.wait()
        running.discard(pid)
        codes.append(os.waitstatus_to_exitcode(status))
    pid = os.fork()
    if pid == 0:
        sys.stdout = open(os.devnull, "w")
        os._exit(main(["enroll", "--model", folder + "/model.npz", "--db", folder + "/people",
                       f"person{k:02d}", folder + "/a.png"]))
    running.add(pid)
for pid in running:
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(codes)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_twenty_parallel_enrolls_keep_twenty_people(face):
    """20 enroll processes, 4 at a time, into one database: all 20 people are in it.

    The processes are forks of one interpreter that has imported minicnn (not run it), so the
    test pays the import once; each child loads the model, embeds, and does its own locked
    load-modify-save -- without the lock about half of the people were lost."""
    r = subprocess.run([sys.executable, "-c", PARALLEL_ENROLLS, str(face), "20", "4"], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert r.returncode == 0 and r.stdout.strip() == str([0] * 20), r.stderr
    db = FaceDatabase.load(face / "people.npz")
    assert db.names == [f"person{k:02d}" for k in range(20)]
    assert not _leftovers(face)


def test_file_lock_serialises_writers(tmp_path):
    """While one process holds the lock, another's lock attempt waits."""
    target = tmp_path / "db.npz"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from minicnn.io import file_lock\n"
        f"with file_lock({str(target)!r}):\n    print('locked', flush=True); time.sleep(1.5)")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert holder.stdout.readline().strip() == "locked"
    t0 = time.monotonic()
    with file_lock(target):
        waited = time.monotonic() - t0
    holder.wait(timeout=30)
    assert waited > 0.5  # it could only get the lock after the holder let go


# ------------------------------------------------------------------ item 2: one name, one kind
def test_one_name_rule_for_reading_and_writing(tmp_path):
    assert str(npz_path("people")) == "people.npz" and str(npz_path("people.db")) == "people.db"
    path = save_npz(tmp_path / "people", {"a": np.ones(2)}, {"kind": "k"})
    assert path == tmp_path / "people.npz"
    arrays, meta = load_npz(tmp_path / "people")
    assert meta["kind"] == "k" and arrays["a"].tolist() == [1, 1]


def test_save_never_replaces_another_kind(tmp_path):
    save_npz(tmp_path / "m.npz", {"a": np.ones(2)}, {"kind": "model"})
    (tmp_path / "notes.npz").write_text("not an npz")
    before = (tmp_path / "m.npz").read_bytes()
    with pytest.raises(FileExistsError, match="holds a model"):
        save_npz(tmp_path / "m", {"b": np.ones(1)}, {"kind": "database"})
    with pytest.raises(FileExistsError, match="not a minicnn .npz"):
        save_npz(tmp_path / "notes.npz", {"b": np.ones(1)}, {"kind": "database"})
    assert (tmp_path / "m.npz").read_bytes() == before and (tmp_path / "notes.npz").read_text() == "not an npz"
    save_npz(tmp_path / "m", {"b": np.ones(1)}, {"kind": "model"})  # same kind: replaced


# ------------------------------------------------------------------ item 3: killed retrain
def test_killed_retrain_keeps_the_previous_model(tmp_path, monkeypatch):
    import importlib

    T = importlib.import_module("minicnn.face.train")  # the module (minicnn.face.train is also a function)
    from minicnn.face.synthetic import synthetic_faces

    data = synthetic_faces(6, 3, size=(16, 16), seed=3)
    out = tmp_path / "existing.npz"
    T.train(data, out=out, steps=2, P=3, K=3, model=TINY, progress=False, log=lambda s: None)
    assert not os.path.exists(T.checkpoint_path(out))  # finished: no checkpoint left behind
    before = out.read_bytes()
    real, calls = T._train_one, []

    def killed_after_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user's Ctrl-C (or a kill) during the second member
        return real(*args, **kwargs)

    monkeypatch.setattr(T, "_train_one", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        T.train(data, out=out, members=3, steps=2, P=3, K=3, model=TINY, progress=False, log=lambda s: None)
    assert out.read_bytes() == before  # --out untouched
    ckpt = T.checkpoint_path(out)
    with pytest.raises(ValueError, match="unfinished training checkpoint"):
        load_model(ckpt)
    partial = load_model(ckpt, allow_partial=True)
    assert len(partial.members) == 1 and partial.threshold is None
    assert load_model(out).threshold is not None


# ------------------------------------------------------------------ item 5: the atomic writer
def _write(text):
    return lambda tmp: open(tmp, "w").write(text)


def test_mode_and_owner_are_kept(tmp_path):
    p = tmp_path / "secret.txt"
    atomic_write(p, _write("one"))
    os.chmod(p, 0o600)
    if os.geteuid() == 0:
        os.chown(p, 12345, 54321)
    atomic_write(p, _write("two"))
    st = os.stat(p)
    assert p.read_text() == "two" and stat.S_IMODE(st.st_mode) == 0o600
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (12345, 54321)


def test_new_file_gets_umask_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.txt", _write("x"))
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o644


def test_enroll_keeps_a_private_database_private(face):
    from minicnn.face.cli import main

    assert main(["enroll", "--model", str(face / "model.npz"), "--db", str(face / "db.npz"), "a",
                 str(face / "a.png")]) == 0
    os.chmod(face / "db.npz", 0o600)
    assert main(["enroll", "--model", str(face / "model.npz"), "--db", str(face / "db.npz"), "b",
                 str(face / "a.png")]) == 0
    assert stat.S_IMODE(os.stat(face / "db.npz").st_mode) == 0o600


def test_links_are_written_through(tmp_path):
    real = tmp_path / "real" / "db.npz"
    real.parent.mkdir()
    save_npz(real, {"a": np.zeros(1)}, {"kind": "k"})
    link = tmp_path / "link.npz"
    os.symlink(real, link)
    save_npz(link, {"a": np.ones(1)}, {"kind": "k"})
    assert os.path.islink(link) and load_npz(real)[0]["a"].tolist() == [1.0]
    dangling = tmp_path / "dangling.npz"
    os.symlink(tmp_path / "real" / "new.npz", dangling)
    save_npz(dangling, {"a": np.ones(1)}, {"kind": "k"})
    assert os.path.islink(dangling) and (tmp_path / "real" / "new.npz").exists()
    loop = tmp_path / "loop.npz"
    os.symlink(loop, loop)
    with pytest.raises(OSError, match="symbolic link"):
        atomic_write(loop, _write("x"))


def test_read_only_and_odd_targets_are_refused(tmp_path):
    p = tmp_path / "ro.txt"
    p.write_text("keep")
    os.chmod(p, 0o444)
    with pytest.raises(PermissionError, match="read-only"):
        atomic_write(p, _write("new"))
    assert p.read_text() == "keep"
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError, match="not a regular file"):
        atomic_write(tmp_path / "dir", _write("x"))
    assert not _leftovers(tmp_path)


def test_file_and_folder_are_synced(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    atomic_write(tmp_path / "f.txt", _write("x"))
    assert any(".f.txt." in s for s in synced) and str(tmp_path) in synced


def test_temp_file_removed_on_exceptions(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    for exc in (RuntimeError, KeyboardInterrupt):
        def fail(tmp, exc=exc):
            open(tmp, "w").write("half")
            raise exc("boom")
        with pytest.raises(exc):
            atomic_write(p, fail)
    assert p.read_text() == "old" and not _leftovers(tmp_path)


def test_sigterm_during_a_save_leaves_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    code = ("import time; from minicnn.io import atomic_write\n"
            "def slow(tmp):\n    open(tmp, 'w').write('half'); print('writing', flush=True); time.sleep(30)\n"
            f"atomic_write({str(p)!r}, slow)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.stdout.readline().strip() == "writing"
    assert _leftovers(tmp_path)  # the temporary file exists while writing ...
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    assert p.read_text() == "old" and not _leftovers(tmp_path)  # ... and is gone after the kill


# ------------------------------------------------------------------ items 11, 15: what may be stored
def test_non_finite_and_non_numeric_arrays_are_never_stored(tmp_path):
    with pytest.raises(ValueError, match="NaN/Inf"):
        mc.save({"w": np.array([1.0, np.nan])}, tmp_path / "a.npz")
    with pytest.raises(ValueError, match="not numeric"):
        mc.save({"w": np.array(["a", None], dtype=object)}, tmp_path / "a.npz")
    with pytest.raises(ValueError, match="NaN or Inf"):
        mc.save({"w": np.ones(1)}, tmp_path / "a.npz", meta={"x": float("inf")})
    assert not os.path.exists(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", w=np.array([np.inf], np.float32))  # written by someone else
    with pytest.raises(ValueError, match=r"b.npz.*'w'.*NaN/Inf"):
        mc.load(tmp_path / "b.npz")


def test_database_refuses_nan_encodings_and_bad_tau():
    db = FaceDatabase(embedding_dim=4)
    with pytest.raises(ValueError, match="NaN or Inf"):
        db.enroll_encodings("a", [np.nan, 0, 0, 1])
    for tau in (float("nan"), float("inf"), -0.1, 4.5, "x"):
        with pytest.raises(ValueError, match="tau"):
            FaceDatabase(embedding_dim=4, tau=tau)


@pytest.mark.parametrize("image", [np.full((32, 32), np.nan), np.full((32, 32), np.inf), np.zeros((32, 32)),
                                   np.full((3, 32, 32), 0.5), np.ones((4, 4)), np.eye(8)])
def test_database_refuses_unusable_pictures(image):
    model = FaceEncoder(**TINY)
    db = FaceDatabase(model)
    with pytest.raises(ValueError, match="NaN or Inf|blank|pixels"):
        db.enroll("a", [image])
    assert len(db) == 0
