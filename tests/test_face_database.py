"""FaceDatabase: enroll / verify / identify, rename / remove, .npz round trip, clear errors;
the encoder's embed() contract and model files."""
import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn.face.checkpoint import load_model
from minicnn.face.database import FaceDatabase
from minicnn.face.encoder import FaceEncoder


@pytest.fixture(scope="module")
def model():
    mc.seed(0)
    m = FaceEncoder(input_size=(16, 16), widths=(4, 8), embedding_dim=8)
    m.eval()
    return m


def faces(seed, n=1, size=(20, 24)):
    return np.random.default_rng(seed).integers(0, 256, (n, *size), dtype=np.uint8)


def test_embed_contract(model):
    e = model.embed(faces(0, 3))
    assert e.shape == (3, 8) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    # uint8 vs float in [0, 1] vs RGB copies give the same encodings
    x = faces(1, 2)
    np.testing.assert_allclose(model.embed(x), model.embed(x / 255.0), atol=1e-5)
    np.testing.assert_allclose(model.embed(x), model.embed(np.repeat(x[:, None], 3, axis=1)), atol=1e-5)
    # any size; already-sized input skips resizing
    assert model.embed(np.zeros((2, 1, 16, 16), np.float32)).shape == (2, 8)
    assert model.embed(np.zeros((0, 16, 16))).shape == (0, 8)
    with pytest.raises(ValueError, match="images must be"):
        model.embed(np.zeros((2, 5, 16, 16)))


def test_tta_modes_and_mirror_invariance(model):
    x = faces(4, 3, size=(16, 16))
    for tta in ("none", "flip", "shift"):
        e = model.embed(x, tta=tta)
        assert e.shape == (3, 8)
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    # averaging over a mirror-symmetric set of views makes the encoding mirror-invariant
    for tta in ("flip", "shift"):
        np.testing.assert_allclose(model.embed(x, tta=tta), model.embed(x[..., ::-1], tta=tta), atol=1e-5)
    assert not np.allclose(model.embed(x, tta="none"), model.embed(x[..., ::-1], tta="none"), atol=1e-4)
    with pytest.raises(ValueError, match="tta must be one of"):
        model.embed(x, tta="crops")


@pytest.mark.parametrize("pool", ["gap", "pyramid", "multi"])
def test_pool_variants(pool, tmp_path):
    m = FaceEncoder(input_size=(16, 16), widths=(4, 8), embedding_dim=6, pool=pool)
    out = m(np.random.default_rng(0).random((2, 1, 16, 16)).astype(np.float32))
    assert out.shape == (2, 6)
    m2 = load_model(m.save(tmp_path / "p.npz"))
    assert m2.config["pool"] == pool
    with pytest.raises(ValueError, match="pool must be one of"):
        FaceEncoder(pool="max")


def test_siamese_one_network(model):
    """Encoding an image alone or inside a batch gives the same result (shared weights, eval mode)."""
    x = faces(2, 4)
    np.testing.assert_allclose(model.embed(x)[2], model.embed(x[2:3])[0], atol=1e-5)


def test_model_file_round_trip(model, tmp_path):
    model.threshold, model.calibration = 0.7, (-3.0, 2.0)
    path = model.save(tmp_path / "m.npz")
    m2 = load_model(path)
    assert m2.model_id == model.model_id and m2.threshold == 0.7 and m2.calibration == (-3.0, 2.0)
    np.testing.assert_allclose(m2.embed(faces(3, 2)), model.embed(faces(3, 2)), atol=1e-6)
    assert m2.same_probability(0.0) == pytest.approx(1 / (1 + np.exp(-2.0)))
    with pytest.raises(ValueError, match="not a face model"):
        mc.save({"w": np.zeros(2)}, tmp_path / "other.npz")
        load_model(tmp_path / "other.npz")


def test_enroll_verify_identify(model):
    db = FaceDatabase(model, tau=1e-9)
    alice, bob = faces(10), faces(11)
    assert db.enroll("alice", alice) == 1
    assert db.enroll("alice", [faces(12)[0], faces(13)[0]]) == 3
    db.enroll("bob", bob)
    assert db.names == ["alice", "bob"] and len(db) == 2 and "bob" in db
    d, same = db.verify(alice[0], "alice")
    assert d == pytest.approx(0.0, abs=1e-6) and same
    d, same = db.verify(bob[0], "alice")
    assert d > 0 and not same
    assert db.identify(bob[0]) == ("bob", pytest.approx(0.0, abs=1e-6))
    name, d = db.identify(faces(99)[0])
    assert name is None and d > db.tau  # open set: not recognised
    db.tau = 10.0
    assert db.identify(faces(99)[0])[0] in ("alice", "bob")


def test_enroll_from_file_path(model, tmp_path):
    Image.fromarray(faces(20)[0]).save(tmp_path / "x.png")
    db = FaceDatabase(model)
    db.enroll("carol", str(tmp_path / "x.png"))
    assert db.verify(str(tmp_path / "x.png"), "carol")[0] == pytest.approx(0.0, abs=1e-6)


def test_rename_remove_and_errors(model):
    db = FaceDatabase(model)
    db.enroll("a", faces(1))
    db.enroll("b", faces(2))
    db.rename("a", "ann")
    assert db.names == ["ann", "b"]
    with pytest.raises(ValueError, match="already enrolled"):
        db.rename("ann", "b")
    db.remove("b")
    with pytest.raises(KeyError, match="unknown name 'b'.*enrolled: ann"):
        db.verify(faces(2)[0], "b")
    with pytest.raises(KeyError, match="unknown name"):
        db.remove("zed")
    with pytest.raises(ValueError, match="non-empty string"):
        db.enroll("  ", faces(3))
    with pytest.raises(ValueError, match=r"encodings for 'x' must be \(n, 8\)"):
        db.enroll_encodings("x", np.zeros(5))
    with pytest.raises(ValueError, match="database is empty"):
        FaceDatabase(model).identify(faces(1)[0])
    with pytest.raises(ValueError, match="no model"):
        FaceDatabase(embedding_dim=8).enroll("a", faces(1))
    with pytest.raises(ValueError, match="image must be"):
        db.verify(np.zeros((2, 2, 5, 5)), "ann")


def test_save_load_round_trip_and_mismatch(model, tmp_path):
    db = FaceDatabase(model, tau=0.42)
    db.enroll("alice", faces(1, 2))
    db.enroll("bob", faces(2))
    path = db.save(tmp_path / "db.npz")
    # the file is a plain npz: no pickle needed
    with np.load(path, allow_pickle=False) as f:
        assert f["encodings"].shape == (3, 8)
    db2 = FaceDatabase.load(path, model)
    assert db2.names == ["alice", "bob"] and db2.tau == 0.42 and db2.model_id == model.model_id
    np.testing.assert_array_equal(db2.encodings("alice"), db.encodings("alice"))
    assert db2.identify(faces(2)[0])[0] == "bob"
    other = FaceEncoder(input_size=(16, 16), widths=(4, 8), embedding_dim=8)
    with pytest.raises(ValueError, match="built with model .* re-enroll"):
        FaceDatabase.load(path, other)
    wide = FaceEncoder(input_size=(16, 16), widths=(4, 8), embedding_dim=16)
    with pytest.raises(ValueError, match="8-d but the model gives 16-d"):
        FaceDatabase.load(path, wide)
    mc.save({"w": np.zeros(2)}, tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="not a FaceDatabase"):
        FaceDatabase.load(tmp_path / "junk.npz")
    # empty database round trip
    e = FaceDatabase(model).save(tmp_path / "empty.npz")
    assert len(FaceDatabase.load(e, model)) == 0
