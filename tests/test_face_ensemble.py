"""FaceEnsemble: the concatenated encoding's squared distance is the mean of the members'
distances; it saves, loads and plugs into the database like a single encoder; train(members=M)."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.face import FaceDatabase
from minicnn.face.checkpoint import load_model
from minicnn.face.encoder import FaceEncoder
from minicnn.face.ensemble import FaceEnsemble
from minicnn.face.metrics import pairwise_sq_dists
from minicnn.face.synthetic import synthetic_faces
from minicnn.face.train import train

TINY = dict(input_size=(24, 24), widths=(6, 12), embedding_dim=8)


def _pair():
    mc.seed(0)
    return FaceEnsemble([FaceEncoder(**TINY), FaceEncoder(**{**TINY, "embedding_dim": 4})])


def test_distance_is_mean_of_member_distances():
    ens = _pair()
    x = synthetic_faces(3, 2, size=(24, 24), seed=1).images
    e = ens.embed(x, tta="none")
    assert e.shape == (6, 12) and ens.embedding_dim == 12
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    parts = [pairwise_sq_dists(m.embed(x, tta="none")) for m in ens.members]
    assert np.allclose(pairwise_sq_dists(e), (parts[0] + parts[1]) / 2, atol=1e-5)
    # forward (the training path) agrees with embed
    ens.eval()
    assert np.allclose(ens(x).data, e, atol=1e-5)


def test_save_load_roundtrip(tmp_path):
    ens = _pair()
    ens.threshold, ens.calibration = 0.7, (-5.0, 3.0)
    ens.save(tmp_path / "e.npz")
    back = load_model(tmp_path / "e.npz")
    assert isinstance(back, FaceEnsemble) and back.model_id == ens.model_id
    assert back.threshold == 0.7 and back.calibration == (-5.0, 3.0)
    x = synthetic_faces(2, 2, size=(24, 24), seed=2).images
    assert np.allclose(back.embed(x), ens.embed(x), atol=1e-6)
    assert back.same_probability(np.array([0.0]))[0] > 0.9


def test_member_mismatch_is_an_error():
    with pytest.raises(ValueError, match="member 1 takes"):
        FaceEnsemble([FaceEncoder(**TINY), FaceEncoder(**{**TINY, "input_size": (32, 32)})])
    with pytest.raises(ValueError, match="non-empty list of FaceEncoder"):
        FaceEnsemble([])


def test_train_members_gives_a_working_ensemble(tmp_path):
    data = synthetic_faces(6, 3, size=(24, 24), seed=3)
    out = tmp_path / "ens.npz"
    model, hist = train(data, out=out, members=2, steps=3, P=3, K=3, model=TINY, progress=False,
                        log=lambda s: None)
    assert isinstance(model, FaceEnsemble) and len(model.members) == 2
    assert {h["member"] for h in hist} == {0, 1} and model.threshold is not None
    # different seeds -> different members
    assert not np.allclose(model.members[0].fc.weight.data, model.members[1].fc.weight.data)
    back = load_model(out)
    assert back.model_id == model.model_id and back.info["partial"] is False
    db = FaceDatabase(back)
    db.enroll("a", data.images[0])
    name, d = db.identify(data.images[0])
    assert name == "a" and d < 1e-6
    with pytest.raises(ValueError, match="members must be >= 1"):
        train(data, members=0, steps=1, model=TINY, progress=False)


def test_shipped_pretrained_weights_separate_unseen_synthetic_people():
    from minicnn.face.metrics import roc_auc, verification_pairs
    from minicnn.face.train import PRETRAINED

    model = load_model(PRETRAINED)
    assert model.input_size == (64, 64) and model.in_channels == 1 and model.threshold is not None
    te = synthetic_faces(10, 4, size=(64, 64), split="test", seed=7)
    e = model.embed(te.images, tta="none")
    i, j, same = verification_pairs(te.labels)
    assert roc_auc(((e[i] - e[j]) ** 2).sum(1), same) > 0.95


def test_pretrained_init_only_for_a_matching_architecture():
    from minicnn.face.train import PRETRAINED, TrainConfig, _init_model

    assert _init_model(TrainConfig(init="pretrained"), 1).model_id == load_model(PRETRAINED).model_id
    said = []
    other = _init_model(TrainConfig(init="pretrained", model=TINY), 1, said.append)  # other size: scratch
    assert other.input_size == (24, 24) and "starts from random weights" in said[0]


def test_cli_train_on_a_folder_defaults_to_an_ensemble(tmp_path):
    from PIL import Image

    from minicnn.face import cli

    data = synthetic_faces(4, 3, size=(24, 24), seed=8)
    for k in range(4):
        (tmp_path / "people" / data.names[k]).mkdir(parents=True)
        for i in np.flatnonzero(data.labels == k):
            picture = Image.fromarray((data.images[i, 0] * 255).astype(np.uint8))
            picture.save(tmp_path / "people" / data.names[k] / f"{i}.png")
    out = tmp_path / "m.npz"
    assert cli.main(["train", "--data", str(tmp_path / "people"), "--out", str(out), "--size", "24",
                     "--steps", "2", "-P", "3", "-K", "2"]) == 0
    model = load_model(out)
    assert isinstance(model, FaceEnsemble) and len(model.members) == cli.MEMBERS
    assert model.info["train"]["init"] == cli.INIT and model.info["train"]["steps_run"] == [2] * cli.MEMBERS
