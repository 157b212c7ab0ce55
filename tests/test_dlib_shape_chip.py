"""dlib's 5-point shape predictor and face chips, re-implemented in minicnn, against dlib.

The oracle is the ``dlib`` wheel (test-only; minicnn never imports it). Landmarks must equal
``dlib.shape_predictor`` for the same box (both are whole pixels, so "within 0.5 px" means
equal) and chips must be within 1/255 of ``dlib.get_face_chip``; on the real Yale photos
(when ../shared/data is present) and on synthetic images that always exist.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

dlib = pytest.importorskip("dlib")

from minicnn.config import shared_data_dir  # noqa: E402
from minicnn.face.dlib_models import files  # noqa: E402
from minicnn.face.dlib_models.chip import (  # noqa: E402
    TEMPLATE_5,
    ChipDetails,
    extract_image_chip,
    face_chip,
    face_chip_details,
    pyramid_down,
)
from minicnn.face.dlib_models.serialize import DlibFormatError  # noqa: E402
from minicnn.face.dlib_models.shape_predictor import ShapePredictor  # noqa: E402

YALE = shared_data_dir() / "faces" / "yalefaces"


@pytest.fixture(scope="module")
def sp_path():
    try:
        return files.model_file("landmarks")
    except files.PretrainedNotInstalled as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def ours(sp_path):
    return ShapePredictor(sp_path)


@pytest.fixture(scope="module")
def oracle(sp_path):
    return dlib.shape_predictor(str(sp_path))


def _dlib_points(det) -> np.ndarray:
    return np.array([[p.x, p.y] for p in det.parts()], dtype=np.float64)


def _detection(points, box=(0, 0, 1, 1)):
    return dlib.full_object_detection(dlib.rectangle(*box),
                                      [dlib.point(int(x), int(y)) for x, y in points])


def _smooth_image(rng, h, w, channels=3):
    """A random image with structure at several scales (so tree splits see both signs)."""
    img = np.zeros((h, w, channels))
    for cell in (4, 16, 48):
        coarse = rng.uniform(0, 1, (h // cell + 2, w // cell + 2, channels))
        img += np.kron(coarse, np.ones((cell, cell, 1)))[:h, :w]
    img = 255 * (img - img.min()) / (img.max() - img.min())
    out = img.astype(np.uint8)
    return out[:, :, 0] if channels == 1 else out


def _chip_error(got, ref) -> int:
    """Max abs difference of two uint8 chips; also insists that differences are rare
    (a systematic off-by-one, such as rounding instead of truncating, is not "within 1")."""
    diff = np.abs(got.astype(int) - ref.astype(int))
    assert (diff > 0).mean() <= 1e-3, f"{(diff > 0).mean():.2%} of the chip values differ"
    return int(diff.max())


def _compare(ours, oracle, img, box, size=150, padding=0.25):
    """(landmark max error, chip max error) of minicnn vs dlib for one image and box."""
    det = oracle(img, dlib.rectangle(*box))
    ref = _dlib_points(det)
    got = ours(img, box)
    chip_ref = dlib.get_face_chip(np.ascontiguousarray(img), det, size=size, padding=padding)
    chip = face_chip(img, got, size, padding)
    if chip_ref.ndim == 2:
        chip_ref = np.stack([chip_ref] * 3, axis=-1)
    assert chip.shape == chip_ref.shape == (size, size, 3) and chip.dtype == np.uint8
    return np.abs(got - ref).max(), _chip_error(chip, chip_ref)


# -------------------------------------------------------------------------------------
# reading the file
# -------------------------------------------------------------------------------------

def test_reader_structure(ours):
    d = ours.data
    assert ours.num_parts == 5 and d.initial_shape.dtype == np.float32
    assert d.num_cascades == 15 and d.cascade_start[-1] == 15 * 500
    n_splits = np.diff(d.split_start)
    assert (n_splits == 15).all()                       # depth-4 trees
    assert d.leaves.shape == (d.split_start[-1] + d.cascade_start[-1], 10)
    assert d.anchor.shape[0] == d.deltas.shape[0] == d.anchor_start[-1]
    # the mean shape: the eyes above the nose, the image-right eye on the right
    pts = d.initial_shape.reshape(5, 2)
    assert pts[4, 1] > pts[:4, 1].max() and pts[0, 0] > pts[2, 0]


def test_reader_rejects_truncated_file(sp_path, tmp_path):
    data = sp_path.read_bytes()
    for cut in (1, 100, len(data) // 2, len(data) - 1):
        bad = tmp_path / "truncated.dat"
        bad.write_bytes(data[:cut])
        with pytest.raises(DlibFormatError) as err:
            ShapePredictor(bad)
        msg = str(err.value)
        assert "truncated.dat" in msg and re.search(r"byte \d+", msg)
        assert "\n" not in msg


def test_reader_rejects_other_kinds(sp_path, tmp_path):
    try:
        other = files.model_file("encoder")
    except files.PretrainedNotInstalled as exc:
        pytest.skip(str(exc))
    with pytest.raises(DlibFormatError, match=rf"{re.escape(other.name)}: byte \d+"):
        ShapePredictor(other)
    # a wrong version, and trailing bytes after a complete predictor
    data = sp_path.read_bytes()
    bad = tmp_path / "v2.dat"
    bad.write_bytes(b"\x01\x02" + data[2:])
    with pytest.raises(DlibFormatError, match=r"v2.dat: byte 0: .*version 1.* found 2"):
        ShapePredictor(bad)
    bad.write_bytes(data + b"\x00")
    with pytest.raises(DlibFormatError, match=rf"byte {len(data)}: unexpected bytes"):
        ShapePredictor(bad)


def _packed_int(v: int) -> bytes:
    mag = abs(int(v)).to_bytes(8, "little").rstrip(b"\0") or b"\0"   # dlib writes >= 1 byte
    return bytes([len(mag) | (0x80 if v < 0 else 0)]) + mag


def _packed_float(v: float) -> bytes:
    if math.isinf(v):
        return _packed_int(0) + _packed_int(32000)                  # dlib's code for inf
    f, e = math.frexp(float(np.float32(v)))
    m = int(f * 2 ** 24)            # exact for a float32
    return _packed_int(m) + _packed_int(e - 24 if m else 0)


def _column(values) -> bytes:
    return _packed_int(-len(values)) + _packed_int(-1) + b"".join(_packed_float(v) for v in values)


def _tiny_predictor(path, initial, thresh, leaves, anchors, deltas):
    """A one-cascade, one-split shape predictor in dlib's format (dlib can load it too)."""
    data = _packed_int(1) + _column(initial)
    data += _packed_int(1) + _packed_int(1)                       # 1 cascade of 1 tree
    data += _packed_int(1) + _packed_int(0) + _packed_int(1) + _packed_float(thresh)
    data += _packed_int(len(leaves)) + b"".join(_column(leaf) for leaf in leaves)
    data += _packed_int(1) + _packed_int(len(anchors)) + b"".join(_packed_int(a) for a in anchors)
    data += _packed_int(1) + _packed_int(len(deltas))
    data += b"".join(_packed_float(x) + _packed_float(y) for x, y in deltas)
    path.write_bytes(data)
    return path


def test_tree_walk_ties_and_rounding_match_dlib_on_a_crafted_model(tmp_path):
    """A hand-made model whose split compares two feature pixels with threshold 0 and
    whose points land on half pixels: ties must go right (``diff > thresh`` goes left)
    and half pixels round up (``floor(v + 0.5)``), as in dlib."""
    # 2 parts at (0.5, 0.5) and (0.25, 0.75) in a 0..9 box -> pixels (4.5, 4.5), (2.25, 6.75)
    initial = [0.5, 0.5, 0.25, 0.75]
    leaves = [[0.0, 0.0, 0.1, 0.0], [0.05, 0.0, 0.0, -0.15]]
    path = _tiny_predictor(tmp_path / "tiny.dat", initial, 0.0, leaves,
                           anchors=[0, 1], deltas=[(0.0, 0.0), (0.0, 0.0)])
    ours, oracle = ShapePredictor(path), dlib.shape_predictor(str(path))
    box = (0, 0, 9, 9)
    flat = np.full((10, 10), 100, np.uint8)
    left_wins = flat.copy()
    left_wins[5, 5] = 101       # feature 0 at round(4.5, 4.5) = (5, 5) is brighter
    right_wins = flat.copy()
    right_wins[5, 5] = 99
    outcomes = set()
    for img in (flat, left_wins, right_wins, np.stack([left_wins] * 3, axis=-1)):
        ref = _dlib_points(oracle(img, dlib.rectangle(*box)))
        np.testing.assert_array_equal(ours(img, box), ref)
        outcomes.add(tuple(ref.ravel()))
    assert len(outcomes) == 2      # the tie went one way, the clear cases both ways


def test_reader_rejects_wrong_tree_records(tmp_path):
    initial, leaf = [0.5, 0.5, 0.25, 0.75], [0.0] * 4
    good = dict(initial=initial, thresh=0.0, leaves=[leaf, leaf], anchors=[0, 1],
                deltas=[(0.0, 0.0), (0.0, 0.0)])
    ShapePredictor(_tiny_predictor(tmp_path / "good.dat", **good))     # the baseline loads
    # the first tree starts after the version, the mean shape and the two counts "01 01";
    # its leaf count follows n_splits (2 bytes) and the split (2 + 2 + 4 bytes)
    tree = len(_packed_int(1) + _column(initial)) + 4
    cases = [(dict(leaves=[leaf] * 3), "one leaf more than it has splits", tree + 10),
             (dict(leaves=[leaf, leaf[:3]]), "column of 2 \\* num_parts", None),
             (dict(anchors=[0]), "differ in length", None),
             (dict(anchors=[0, 7]), "anchor_idx out of range", None),
             (dict(thresh=float("inf")), "inf or NaN", None)]
    for change, message, offset in cases:
        path = _tiny_predictor(tmp_path / "bad.dat", **{**good, **change})
        with pytest.raises(DlibFormatError, match=f"bad.dat: byte {offset or '[0-9]+'}: .*{message}"):
            ShapePredictor(path)


# -------------------------------------------------------------------------------------
# landmarks and chips against dlib, on synthetic images
# -------------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3])
def test_landmarks_and_chips_match_dlib_synthetic(ours, oracle, channels):
    rng = np.random.default_rng(channels)
    img = _smooth_image(rng, 240, 320, channels)
    boxes = [(0, 0, 319, 239), (100, 60, 219, 179), (40, 30, 140, 130),
             (-60, -40, 120, 150), (250, 170, 400, 300), (150, 100, 153, 104)]
    boxes += [tuple(int(v) for v in (x, y, x + s, y + s))
              for x, y, s in zip(rng.integers(-30, 250, 8), rng.integers(-30, 170, 8),
                                 rng.integers(20, 200, 8))]
    for box in boxes:
        lm_err, chip_err = _compare(ours, oracle, img, box)
        assert lm_err <= 0.5, box
        assert chip_err <= 1, box


def test_chips_match_dlib_over_pyramid_sizes_and_rotations(ours, oracle):
    """Landmarks placed directly: faces much larger than the chip take dlib's pyramid path
    (1-3 halvings), others are rotated, cut by the border, or use other sizes/paddings."""
    rng = np.random.default_rng(5)
    img = _smooth_image(rng, 900, 1200)
    cases = [(600, 0.0, 150, 0.25), (400, 0.3, 150, 0.25), (1000, -0.5, 150, 0.25),
             (120, 1.2, 151, 0.25), (90, -2.0, 33, 0.1), (300, 0.2, 200, 0.0),
             (250, 3.0, 80, 0.6)]
    for face, angle, size, padding in cases:
        centre = rng.uniform(100, 1100), rng.uniform(100, 800)
        c, s = math.cos(angle), math.sin(angle)
        pts = (TEMPLATE_5 - 0.5) * face @ np.array([[c, s], [-s, c]]) + centre
        pts = np.round(pts + rng.normal(0, 2, pts.shape))
        det = _detection(pts)
        ref = dlib.get_face_chip(img, det, size=size, padding=padding)
        got = face_chip(img, pts, size, padding)
        assert _chip_error(got, ref) <= 1, (face, angle, size)
        d_ref = dlib.get_face_chip_details(det, size, padding)
        d = face_chip_details(pts, size, padding)
        r = d_ref.rect
        np.testing.assert_allclose(d.rect, (r.left(), r.top(), r.right(), r.bottom()), atol=1e-6)
        assert abs(d.angle - d_ref.angle) < 1e-9 and (d.rows, d.cols) == (d_ref.rows, d_ref.cols)


def test_extract_image_chip_plain_copy_path():
    """No rotation and no scaling: dlib copies the rounded rectangle (black outside)."""
    rng = np.random.default_rng(7)
    img = _smooth_image(rng, 60, 80)
    for l, t in [(10.3, 5.6), (-7.0, 20.0), (50.0, -3.4)]:
        rect = (l, t, l + 39, t + 29)
        ref = dlib.extract_image_chip(img, dlib.chip_details(dlib.drectangle(*rect),
                                                             dlib.chip_dims(30, 40), 0.0))
        got = extract_image_chip(img, ChipDetails(rect, 0.0, 30, 40))
        np.testing.assert_array_equal(got, ref)


def test_pyramid_down_matches_dlib():
    rng = np.random.default_rng(3)
    pyr = dlib.pyramid_down(2)
    for h, w in [(9, 9), (20, 31), (64, 47)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        np.testing.assert_array_equal(pyramid_down(img), pyr(img))
    assert pyramid_down(np.zeros((8, 50, 3), np.uint8)).size == 0


# -------------------------------------------------------------------------------------
# the real photos
# -------------------------------------------------------------------------------------

def test_landmarks_and_chips_match_dlib_on_yale(ours, oracle):
    if not YALE.is_dir():
        pytest.skip(f"no development faces at {YALE}")
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    paths = sorted(p for p in YALE.iterdir() if p.name.startswith("subject"))
    assert len(paths) > 100
    worst_lm = worst_chip = 0
    for path in paths:
        with Image.open(path) as im:
            grey = np.asarray(im.convert("L"), dtype=np.uint8)
        rgb = np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
        found = detector(grey, 0)
        box = ((found[0].left(), found[0].top(), found[0].right(), found[0].bottom())
               if len(found) else (80, 40, 239, 199))
        lm_err, chip_err = _compare(ours, oracle, rgb, box)
        worst_lm, worst_chip = max(worst_lm, lm_err), max(worst_chip, chip_err)
    assert worst_lm <= 0.5 and worst_chip <= 1


# -------------------------------------------------------------------------------------
# bad input
# -------------------------------------------------------------------------------------

def test_bad_input_is_one_clear_error(ours):
    img = np.zeros((50, 60, 3), np.uint8)
    pts = TEMPLATE_5 * 40 + 5
    with pytest.raises(ValueError, match="image must hold uint8"):
        ours(img.astype(np.float32), (0, 0, 59, 49))
    with pytest.raises(ValueError, match=r"image must be \(H, W\)"):
        ours(np.zeros((5, 50, 60), np.uint8), (0, 0, 59, 49))
    with pytest.raises(ValueError, match="right >= left"):
        ours(img, (30, 0, 10, 49))
    with pytest.raises(ValueError, match="finite"):
        ours(img, (0, 0, np.nan, 49))
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        face_chip(img, pts[:4])
    with pytest.raises(ValueError, match="finite"):
        face_chip(img, np.where(np.eye(5, 2) > 0, np.nan, pts))
    with pytest.raises(ValueError, match="size"):
        face_chip(img, pts, size=0)
    with pytest.raises(ValueError, match="padding"):
        face_chip(img, pts, padding=-0.1)
