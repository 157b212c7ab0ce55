"""Face folder loader (both layouts, formats by content, error paths), resizing, synthetic faces."""
import os

import numpy as np
import pytest
from PIL import Image

from minicnn.config import shared_data_dir
from minicnn.face.data import (
    FaceDataWarning,
    fit_image,
    identity_folds,
    load_folder,
    prepare_images,
    read_image,
    scan_folder,
    split_identities,
    to_float_images,
)
from minicnn.face.synthetic import random_identity, render_face, synthetic_faces

YALE = shared_data_dir() / "faces" / "yalefaces"


def _img(seed, size=(40, 30), mode="L"):
    rng = np.random.default_rng(seed)
    shape = size[::-1] if mode == "L" else (size[1], size[0], 3)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def _people(root, spec):
    """spec: {name: [format, ...]}; files get no extension for odd formats on purpose."""
    for name, formats in spec.items():
        d = root / name
        d.mkdir(parents=True)
        for k, fmt in enumerate(formats):
            _img(hash((name, k)) % 1000, mode="RGB" if fmt == "JPEG" else "L").save(d / f"img{k}", format=fmt)


def test_formats_recognised_by_content(tmp_path):
    _people(tmp_path, {"alice": ["PNG", "JPEG", "GIF"], "bob": ["BMP", "PPM", "PNG"]})
    ds = load_folder(str(tmp_path), size=(16, 16))
    assert ds.images.shape == (6, 1, 16, 16) and ds.images.dtype == np.float32
    assert ds.names == ["alice", "bob"] and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
    rgb = load_folder(str(tmp_path), size=(16, 16), channels=3)
    assert rgb.images.shape == (6, 3, 16, 16)


def test_flat_layout_identity_before_first_dot(tmp_path):
    for name in ["subject01.happy", "subject01.sad", "subject02.happy", "subject02.wink.gif"]:
        _img(len(name) + ord(name[-1])).save(tmp_path / name, format="GIF")
    assert [n for n, _ in scan_folder(str(tmp_path))] == ["subject01", "subject01", "subject02", "subject02"]
    ds = load_folder(str(tmp_path), size=(8, 8))
    assert ds.names == ["subject01", "subject02"] and len(ds) == 4


def test_corrupt_file_skipped_with_warning_and_count(tmp_path):
    _people(tmp_path, {"a": ["PNG", "PNG"], "b": ["PNG", "PNG"]})
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "b" / "notes.txt").write_text("hello")
    with pytest.warns(FaceDataWarning, match=r"skipped 2 unreadable file\(s\)") as rec:
        ds = load_folder(str(tmp_path), size=(8, 8))
    msg = str(rec[0].message)
    assert "broken.jpg" in msg and "notes.txt" in msg
    assert len(ds) == 4 and len(ds.skipped) == 2


def test_truncated_png_is_corrupt(tmp_path):
    _img(1).save(tmp_path / "x.png")
    data = (tmp_path / "x.png").read_bytes()
    (tmp_path / "y.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="y.png: not a readable image"):
        read_image(str(tmp_path / "y.png"))


def test_single_image_identity_reported(tmp_path):
    _people(tmp_path, {"a": ["PNG", "PNG"], "b": ["PNG", "PNG"], "solo": ["PNG"]})
    with pytest.warns(FaceDataWarning, match="fewer than 2 distinct images.*solo"):
        ds = load_folder(str(tmp_path), size=(8, 8))
    assert ds.counts()["solo"] == 1 and ds.n_identities == 3  # kept: still useful as a negative


def test_too_few_identities_and_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="is empty"):
        load_folder(str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        load_folder(str(tmp_path / "nope"))
    _people(tmp_path, {"a": ["PNG", "PNG"], "b": ["PNG"]})
    with pytest.raises(ValueError, match="at least 2 identities with >= 2 distinct images, found 1"):
        with pytest.warns(FaceDataWarning):
            load_folder(str(tmp_path))


def test_only_corrupt_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"junk")
    with pytest.warns(FaceDataWarning), pytest.raises(ValueError, match="no readable images"):
        load_folder(str(tmp_path))


def test_duplicates_share_a_group(tmp_path):
    _people(tmp_path, {"a": ["PNG", "PNG"], "b": ["PNG", "PNG"]})
    (tmp_path / "a" / "copy").write_bytes((tmp_path / "a" / "img0").read_bytes())
    ds = load_folder(str(tmp_path), size=(8, 8))
    g = dict(zip([os.path.basename(p) for p in ds.paths[:3]], ds.groups[:3]))
    assert g["copy"] == g["img0"] != g["img1"]
    assert ds.counts() == {"a": 2, "b": 2}


def test_fit_image_centre_crop_then_resize():
    img = np.zeros((1, 10, 20), np.float32)
    img[:, :, 5:15] = 1.0  # the centre square is white, the side bands black
    out = fit_image(img, (5, 5))
    assert out.shape == (1, 5, 5) and np.allclose(out, 1.0)
    tall = np.zeros((1, 30, 10), np.float32)
    tall[:, 10:20] = 0.5
    assert np.allclose(fit_image(tall, (4, 4)), 0.5)


def test_prepare_images_dtypes_and_shapes():
    u8 = np.full((2, 30, 40), 255, np.uint8)
    out = prepare_images(u8, (8, 8), 1)
    assert out.shape == (2, 1, 8, 8) and np.allclose(out, 1.0)
    f = np.full((1, 3, 20, 20), 0.5, np.float32)
    assert np.allclose(prepare_images(f, (10, 10), 1), 0.5)
    assert prepare_images(f[:, :1], (10, 10), 3).shape == (1, 3, 10, 10)
    assert np.allclose(to_float_images(np.full((1, 4, 4), 128.0)), 128 / 255)
    with pytest.raises(ValueError, match="images must be"):
        prepare_images(np.zeros((1, 2, 5, 5)), (4, 4), 1)
    with pytest.raises(TypeError, match="dtype"):
        prepare_images(np.zeros((1, 5, 5), bool), (4, 4), 1)


def test_splits_are_disjoint():
    ds = synthetic_faces(6, 3, size=(16, 16))
    tr, te = split_identities(ds, 2, seed=1)
    assert set(tr.names).isdisjoint(te.names) and len(tr) + len(te) == len(ds)
    folds = identity_folds(10, 3, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="n_test"):
        split_identities(ds, 6)


def test_synthetic_faces_seeded_and_disjoint():
    a = synthetic_faces(3, 2, size=(24, 24), seed=5)
    b = synthetic_faces(3, 2, size=(24, 24), seed=5)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.images.shape == (6, 1, 24, 24) and 0 <= a.images.min() and a.images.max() <= 1
    t = synthetic_faces(3, 2, size=(24, 24), seed=5, split="test")
    assert not set(a.names) & set(t.names)
    assert not np.allclose(a.images, t.images)
    rgb = synthetic_faces(2, 1, size=(24, 24), channels=3)
    assert rgb.images.shape == (2, 3, 24, 24)
    with pytest.raises(ValueError, match="split"):
        synthetic_faces(3, 2, split="dev")


def test_synthetic_identity_vs_nuisance():
    """Two photos of one person differ less than photos of two people (canonical pose)."""
    rng = np.random.default_rng(0)
    p1, p2 = random_identity(rng), random_identity(rng)
    x1 = render_face(p1, np.random.default_rng(1), (32, 32), nuisance=0.0)
    x1b = render_face(p1, np.random.default_rng(2), (32, 32), nuisance=0.0)
    x2 = render_face(p2, np.random.default_rng(1), (32, 32), nuisance=0.0)
    assert np.abs(x1 - x1b).mean() < np.abs(x1 - x2).mean()


@pytest.mark.realdata
@pytest.mark.skipif(not YALE.is_dir(), reason="shared Yale faces not available")
def test_yale_folder_loads_with_duplicates():
    ds = load_folder(str(YALE), size=(32, 32))
    assert len(ds) == 164 and ds.n_identities == 15
    assert len(np.unique(ds.groups)) == 164 - 9  # the README's 9 pixel-identical pairs
    assert ds.counts()["subject01"] == 10
