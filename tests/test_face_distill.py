"""Distillation (distill.py): the distance-matching term's value and gradient (float64 central
differences), the teacher's cache (memory and disk), training with a teacher, the unchanged
no-teacher path and the --teacher default when the pretrained files are missing."""
import argparse

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
import minicnn.face.dlib_models as dlib_models
from minicnn.face import cli
from minicnn.face.data import load_folder
from minicnn.face.distill import TeacherCache, default_teacher, distance_matching_loss, distance_scale
from minicnn.face.dlib_models.files import PretrainedNotInstalled
from minicnn.face.synthetic import synthetic_faces
from minicnn.face.train import TrainConfig, train

TINY = dict(input_size=(24, 24), widths=(6, 12), embedding_dim=16)


class FakeTeacher:
    """Stands in for the pretrained network: a fixed random projection of the photo's pixels;
    counts the photos it was asked to encode."""

    def __init__(self):
        self.calls = 0
        self.w = np.random.default_rng(0).normal(size=(3 * 24 * 24, 8))

    def embed(self, photos):
        self.calls += len(photos)
        return np.stack([np.asarray(p, np.float64).reshape(-1) @ self.w for p in photos])


@pytest.fixture
def photos(tmp_path):
    """4 people x 3 photos as PNG files -> (FaceDataset, folder)."""
    faces = synthetic_faces(4, 3, size=(24, 24), channels=3, seed=0)
    folder = tmp_path / "faces"
    for k, (img, y) in enumerate(zip(faces.images, faces.labels)):
        (folder / f"p{y}").mkdir(parents=True, exist_ok=True)
        Image.fromarray((img.transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(folder / f"p{y}" / f"{k}.png")
    return load_folder(str(folder), size=(24, 24)), folder


@pytest.fixture(autouse=True)
def empty_memory(monkeypatch):
    monkeypatch.setattr(TeacherCache, "_memory", {})


def test_distance_matching_value_and_gradcheck():
    rng = np.random.default_rng(0)
    e, t, s = rng.normal(size=(5, 3)), rng.normal(size=(5, 4)), 0.7
    want = np.mean([(((e[i] - e[j]) ** 2).sum() - s * ((t[i] - t[j]) ** 2).sum()) ** 2
                    for i in range(5) for j in range(i + 1, 5)])
    assert distance_matching_loss(mc.Tensor(e), t, s).item() == pytest.approx(want, rel=1e-12)
    mc.gradcheck(lambda x: distance_matching_loss(x, t, s), [mc.Tensor(e, requires_grad=True)])
    # zero exactly when the student's distances are the (scaled) teacher's, whatever the axes
    rot = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    assert distance_matching_loss(mc.Tensor(t @ rot), t, 1.0).item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="teacher"):
        distance_matching_loss(mc.Tensor(e), t[:4])


def test_distance_scale_puts_different_people_at_two():
    t = np.array([[0.0, 0.0], [0.0, 0.1], [1.0, 0.0], [1.0, 0.1]])  # people 0 0 1 1
    labels = np.array([0, 0, 1, 1])
    # different-people squared distances: 1, 1.01, 1.01, 1 -> mean 1.005
    assert distance_scale(t, labels) == pytest.approx(2 / 1.005)


def test_teacher_cache_memory_and_disk(photos, tmp_path, monkeypatch):
    data, _ = photos
    fake, path = FakeTeacher(), str(tmp_path / "m.teacher.npz")
    first = TeacherCache(fake, "dlib", path).encodings(data.paths)
    assert fake.calls == len(data) and first.shape == (len(data), 8)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)
    # same process: from memory, in the order asked
    again = TeacherCache(fake, "dlib").encodings(data.paths[::-1])
    assert fake.calls == len(data)
    np.testing.assert_array_equal(again, first[::-1])
    # a new process (empty memory) reads the file instead of running the teacher
    monkeypatch.setattr(TeacherCache, "_memory", {})
    cache = TeacherCache(fake, "dlib", path)
    np.testing.assert_array_equal(cache.encodings(data.paths), first)
    assert fake.calls == len(data) and cache.computed == 0
    # another teacher's encodings never mix with these
    TeacherCache(fake, "other", path).encodings(data.paths[:2])
    assert fake.calls == len(data) + 2


def test_train_with_teacher_uses_and_reuses_the_cache(photos, tmp_path, monkeypatch):
    data, _ = photos
    fake = FakeTeacher()
    kw = dict(init="scratch", steps=4, P=4, K=2, model=TINY, progress=False, log=lambda s: None, augment=False)
    base, _ = train(data, teacher="none", **kw)
    model, _ = train(data, out=tmp_path / "m.npz", progress=False, log=lambda s: None,
                     config=TrainConfig(init="scratch", steps=4, P=4, K=2, model=TINY, augment=False, teacher="dlib"),
                     teacher_model=fake)
    assert fake.calls == len(data) and (tmp_path / "m.teacher.npz").exists()
    assert model.info["distill_scale"] > 0 and model.info["train"]["teacher"] == "dlib"
    # the term changes what is learnt ...
    x = data.images[:4]
    assert not np.allclose(model.embed(x), base.embed(x), atol=1e-4)
    # ... and with weight 0 the run is the no-teacher run exactly (same batches, same steps)
    zero, _ = train(data, teacher="dlib", distill_weight=0.0, teacher_model=fake, **kw)
    np.testing.assert_array_equal(zero.embed(x), base.embed(x))
    # retraining into the same file: the encodings come from the file, the teacher never runs
    monkeypatch.setattr(TeacherCache, "_memory", {})
    train(data, out=tmp_path / "m.npz", progress=False, log=lambda s: None, teacher_model=fake,
          config=TrainConfig(init="scratch", steps=2, P=4, K=2, model=TINY, augment=False, teacher="dlib"))
    assert fake.calls == len(data)


def test_no_teacher_never_runs_it_and_needs_no_files():
    fake = FakeTeacher()
    data = synthetic_faces(4, 3, size=(24, 24), seed=1)  # generated: no photo files
    train(data, init="scratch", steps=2, P=4, K=2, model=TINY, progress=False, log=lambda s: None, teacher_model=fake)
    assert fake.calls == 0
    with pytest.raises(ValueError, match="needs the photo files"):
        train(data, init="scratch", steps=2, P=4, K=2, model=TINY, progress=False, log=lambda s: None,
              teacher_model=fake, config=TrainConfig(teacher="dlib"))
    with pytest.raises(ValueError, match="teacher must be one of"):
        TrainConfig(teacher="vgg")


@pytest.mark.parametrize("installed", [True, False])
def test_teacher_default_follows_the_installed_files(monkeypatch, installed):
    monkeypatch.setattr(dlib_models, "available", lambda: installed)
    assert default_teacher() == ("dlib" if installed else "none")
    ns = argparse.Namespace(teacher=None, data="faces/")
    assert cli._teacher(ns) == ("dlib" if installed else "none")
    assert cli._teacher(argparse.Namespace(teacher=None, data=None)) == "none"  # synthetic faces
    if not installed:
        with pytest.raises(PretrainedNotInstalled, match="--teacher dlib"):
            cli._teacher(argparse.Namespace(teacher="dlib", data="faces/"))


def test_cli_teacher_dlib_missing_is_one_line(photos, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dlib_models, "available", lambda: False)
    _, folder = photos
    rc = cli.main(["train", "--data", str(folder), "--out", str(tmp_path / "m.npz"), "--teacher", "dlib",
                   "--steps", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--teacher dlib" in err[0]
    assert not (tmp_path / "m.npz").exists()
