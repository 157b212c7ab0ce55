"""The binary pair head as a deployed decision rule (issue 17, item 3): hand-made heads whose
decisions are computed here by hand, in the model file (arrays; old JSON files converted), the
database, ensembles, evaluate and the command lines."""
import json

import numpy as np
import pytest

import minicnn as mc
from minicnn.face import cli
from minicnn.face.checkpoint import load_model
from minicnn.face.database import FaceDatabase
from minicnn.face.encoder import RULE_DISTANCE, RULE_HEAD, FaceEncoder
from minicnn.face.ensemble import FaceEnsemble
from minicnn.face.evaluate import evaluate_encoder
from minicnn.face.losses import PairHead
from minicnn.face.metrics import evaluate_embeddings, roc_auc
from minicnn.face.synthetic import synthetic_faces

D = 4


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def hand_head(weight, bias, kind="abs"):
    h = PairHead(len(weight), kind)
    h.weight.data[...] = weight
    h.bias.data[...] = bias
    return h


def tiny(seed=0, head=None):
    mc.seed(seed)
    m = FaceEncoder(input_size=(16, 16), widths=(4, 8), embedding_dim=D)
    m.threshold, m.head = 0.5, head
    m.eval()
    return m


# a head that only looks at dimension 0: |a_0 - b_0| > 0.1 means "different", whatever the rest
ONLY_DIM0 = ([-10.0, 0.0, 0.0, 0.0], 1.0)


def test_pair_probability_is_the_heads_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, D)), rng.normal(size=(5, D))
    w, bias = np.array([-1.0, -2.0, 0.5, -0.25]), 0.3
    m = tiny(head=hand_head(w, bias, "abs"))
    np.testing.assert_allclose(m.pair_probability(a, b), sigmoid(np.abs(a - b) @ w + bias), rtol=1e-5)
    m.head = hand_head(w, bias, "chi2")
    chi2 = (a - b) ** 2 / (np.abs(a) + np.abs(b) + 1e-6)
    np.testing.assert_allclose(m.pair_probability(a, b), sigmoid(chi2 @ w + bias), rtol=1e-4)
    assert m.decision_rule == RULE_HEAD and tiny().decision_rule == RULE_DISTANCE
    with pytest.raises(ValueError, match="no binary head"):
        tiny().pair_probability(a, b)
    with pytest.raises(ValueError, match="encodings must both be"):
        m.pair_probability(a, b[:, :3])


def test_database_decides_by_the_head_not_the_distance():
    db = FaceDatabase(tiny(head=hand_head(*ONLY_DIM0)), tau=0.5)
    assert db.rule == RULE_HEAD
    db.enroll_encodings("ann", [0.0, 0.0, 0.0, 0.0])
    db.enroll_encodings("bob", [0.5, 1.0, 0.0, 0.0])
    far_but_same = np.array([0.0, 1.0, 1.0, 0.0])   # d = 2 > tau, but dim 0 agrees: p = sigmoid(1)
    near_but_other = np.array([0.2, 0.0, 0.0, 0.0])  # d = 0.04 <= tau, dim 0 differs: p = sigmoid(-1)
    m = db.verify_encoding(far_but_same, "ann")
    assert m.same and m.probability == pytest.approx(sigmoid(1.0)) and m.distance == pytest.approx(2.0)
    assert m.rule == RULE_HEAD
    m = db.verify_encoding(near_but_other, "ann")
    assert not m.same and m.probability == pytest.approx(sigmoid(-1.0)) and m.distance == pytest.approx(0.04)
    # identify: the most probable person, not the nearest one (ann is at d 0.25, bob at d 1)
    m = db.identify_encoding(np.array([0.5, 0.0, 0.0, 0.0]))
    assert m.name == "bob" and m.same and m.probability == pytest.approx(sigmoid(1.0))
    assert m.distance == pytest.approx(1.0)
    m = db.identify_encoding(np.array([0.25, 0.0, 0.0, 0.0]))  # both at |0.25| in dim 0: p = sigmoid(-1.5)
    assert m.name is None and not m.same and m.probability == pytest.approx(sigmoid(-1.5))
    # the same database without the head decides by distance
    plain = FaceDatabase(tiny(), tau=0.5)
    plain.enroll_encodings("ann", [0.0, 0.0, 0.0, 0.0])
    assert plain.rule == RULE_DISTANCE and plain.verify_encoding(near_but_other, "ann").same
    assert plain.verify_encoding(near_but_other, "ann").probability is None


def test_database_verify_and_identify_on_images_use_the_head():
    model = tiny(head=hand_head(*ONLY_DIM0))
    faces = synthetic_faces(2, 2, size=(16, 16), seed=3).images
    e = model.embed(faces)
    db = FaceDatabase(model, tau=4.0)  # tau 4: the distance rule would accept everyone
    db.enroll_encodings("ann", e[0])
    p = float(model.pair_probability(e[0], e[3]))
    d, same = db.verify(faces[3], "ann")
    assert same == (p >= 0.5) and d == pytest.approx(float(((e[0] - e[3]) ** 2).sum()), rel=1e-5)
    name, _ = db.identify(faces[3])
    assert (name == "ann") == (p >= 0.5)


def test_head_is_saved_as_arrays_and_loads(tmp_path):
    w = np.array([-1.0, -2.0, 0.5, -0.25], np.float32)
    model = tiny(head=hand_head(w, 0.3, "chi2"))
    path = model.save(tmp_path / "m.npz")
    state, meta = mc.load(path)
    np.testing.assert_array_equal(state["head.weight"], w)
    np.testing.assert_array_equal(state["head.bias"], np.float32([0.3]))
    assert meta["head"] == "chi2" and "pair_head" not in meta["info"]
    back = load_model(path)
    assert back.head.kind == "chi2" and back.decision_rule == RULE_HEAD
    a, b = np.random.default_rng(1).normal(size=(2, 3, D))
    np.testing.assert_allclose(back.pair_probability(a, b), model.pair_probability(a, b), rtol=1e-6)
    # the head does not change the encodings, so neither does it change the id databases check
    assert back.model_id == tiny().model_id


def test_old_files_with_a_json_head_still_load(tmp_path):
    """Files written before the head was an array kept it in info["pair_head"] as lists."""
    model = tiny()
    model.info["pair_head"] = {"kind": "abs", "weight": [-1.0, -2.0, 0.5, -0.25], "bias": 0.3}
    path = model.save(tmp_path / "old.npz")
    back = load_model(path)
    a, b = np.random.default_rng(2).normal(size=(2, 3, D))
    want = sigmoid(np.abs(a - b) @ np.array([-1.0, -2.0, 0.5, -0.25]) + 0.3)
    np.testing.assert_allclose(back.pair_probability(a, b), want, rtol=1e-5)
    assert "pair_head" not in back.info and back.model_id == model.model_id
    state, meta = mc.load(back.save(tmp_path / "new.npz"))  # saved again: the new layout
    assert "head.weight" in state and meta["head"] == "abs" and "pair_head" not in meta["info"]
    model.info["pair_head"] = {"kind": "abs", "weight": [-1.0, 2.0], "bias": 0.3}
    with pytest.raises(ValueError, match="damaged face model.*4 finite weights"):
        load_model(model.save(tmp_path / "bad.npz"))
    # a head kind the file cannot have, or head arrays without a kind: refused, naming the file
    state, meta = mc.load(tmp_path / "new.npz")
    mc.save(state, tmp_path / "kind.npz", meta={**meta, "head": "cosine"})
    with pytest.raises(ValueError, match="kind.npz: damaged face model: 'head' must name one kind"):
        load_model(tmp_path / "kind.npz")
    mc.save(state, tmp_path / "nokind.npz", meta={**meta, "head": None})
    with pytest.raises(ValueError, match="nokind.npz: damaged face model: .*head.weight"):
        load_model(tmp_path / "nokind.npz")


def test_ensemble_averages_the_members_probabilities(tmp_path):
    w0, w1 = np.array([-1.0, -2.0, 0.5, -0.25]), np.array([-3.0, 0.0, 0.0, -1.0])
    ens = FaceEnsemble([tiny(0, hand_head(w0, 0.3)), tiny(1, hand_head(w1, 1.0, "chi2"))])
    assert ens.decision_rule == RULE_HEAD
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 3, D)), rng.normal(size=(2, 3, D))
    # the ensemble encoding is [f_0, f_1] / sqrt(2); member m reads its own (rescaled) part
    ea, eb = np.concatenate(a, 1) / np.sqrt(2), np.concatenate(b, 1) / np.sqrt(2)
    chi2 = (a[1] - b[1]) ** 2 / (np.abs(a[1]) + np.abs(b[1]) + 1e-6)
    want = 0.5 * (sigmoid(np.abs(a[0] - b[0]) @ w0 + 0.3) + sigmoid(chi2 @ w1 + 1.0))
    np.testing.assert_allclose(ens.pair_probability(ea, eb), want, rtol=1e-4)
    back = load_model(ens.save(tmp_path / "ens.npz"))
    assert [m.head.kind for m in back.members] == ["abs", "chi2"]
    np.testing.assert_allclose(back.pair_probability(ea, eb), want, rtol=1e-4)
    with pytest.raises(ValueError, match="members \\[0\\] have a binary head and members \\[1\\] do not"):
        FaceEnsemble([tiny(0, hand_head(w0, 0.3)), tiny(1)])


def test_evaluate_scores_with_the_head():
    """A head that ignores the encodings (w = 0, b = 1: always "same", p = sigmoid(1)) must score
    exactly chance, although the encodings themselves separate the people perfectly."""
    labels = np.repeat(np.arange(12), 3)
    emb = np.eye(12)[labels] + 0.01 * np.random.default_rng(0).normal(size=(36, 12))
    by_distance = evaluate_embeddings(emb, labels, trials=200)
    assert by_distance["verification_accuracy"] == 1.0 and by_distance["decision_rule"] == RULE_DISTANCE
    const = hand_head(np.zeros(12), 1.0)
    model = FaceEncoder(input_size=(16, 16), widths=(4, 8), embedding_dim=12)
    model.head = const
    r = evaluate_embeddings(emb, labels, trials=200, head=model.pair_probability)
    assert r["decision_rule"] == RULE_HEAD and r["threshold"] == 0.5
    assert r["verification_accuracy"] == pytest.approx(0.5) and r["roc_auc"] == 0.5  # balanced, all accepted
    assert r["unknown_rejection"] == 0.0
    # a head that ranks perfectly but whose 0.5 sits too far out (logit 3 - sum |diff|: about 1 for
    # different people): the accuracy is that of its own rule, p >= 0.5 (nothing is refitted on
    # the test pairs), the AUC that of its scores p
    model.head = hand_head(np.full(12, -1.0), 3.0)
    r = evaluate_embeddings(emb, labels, trials=200, head=model.pair_probability)
    from minicnn.face.metrics import verification_pairs
    i, j, same = verification_pairs(labels)
    p = model.pair_probability(emb[i], emb[j])
    folds = np.array_split(np.random.default_rng(0).permutation(len(same)), 10)  # the 10 random folds
    assert r["verification_accuracy"] == pytest.approx(np.mean([np.mean((p[f] >= 0.5) == same[f]) for f in folds]))
    assert r["verification_accuracy"] == pytest.approx(0.5) and r["roc_auc"] == 1.0
    assert r["roc_auc"] == pytest.approx(roc_auc(1 - p, same))


def test_binary_training_gives_a_deployable_model(tmp_path):
    from minicnn.face.train import train

    data = synthetic_faces(6, 3, size=(24, 24), seed=1)
    tiny_cfg = dict(input_size=(24, 24), widths=(6, 12), embedding_dim=8)
    model, _ = train(data, loss="binary", head="chi2", init="scratch", steps=3, P=3, K=3, model=tiny_cfg,
                     members=2, progress=False, log=lambda s: None, augment=False, out=tmp_path / "b.npz")
    assert isinstance(model, FaceEnsemble) and model.decision_rule == RULE_HEAD
    back = load_model(tmp_path / "b.npz")
    assert [m.head.kind for m in back.members] == ["chi2", "chi2"]
    r = evaluate_encoder(back, data, ways=3, trials=50)
    assert r["decision_rule"] == RULE_HEAD


@pytest.fixture
def head_files(tmp_path):
    from PIL import Image

    model = tiny(head=hand_head(*ONLY_DIM0))
    model.save(tmp_path / "m.npz")
    faces = synthetic_faces(2, 2, size=(32, 32), seed=3).images
    for k in range(4):
        Image.fromarray((faces[k, 0] * 255).astype(np.uint8)).save(tmp_path / f"f{k}.png")
    e = model.embed(faces)
    return tmp_path, model, e


def test_cli_verify_identify_print_the_probability_and_the_rule(head_files, capsys):
    d, model, e = head_files
    assert cli.main(["enroll", "--model", str(d / "m.npz"), "--db", str(d / "db"), "ann", str(d / "f0.png")]) == 0
    capsys.readouterr()
    for k in (1, 3):
        enc = FaceDatabase(model).encode([str(d / "f0.png"), str(d / f"f{k}.png")])
        want = float(model.pair_probability(enc[0], enc[1]))
        code = cli.main(["verify", "--model", str(d / "m.npz"), "--db", str(d / "db"), "ann", str(d / f"f{k}.png")])
        out = capsys.readouterr().out
        assert f"P(same) {float(want):.3f}" in out and "rule: head probability >= 0.5" in out
        assert code == (0 if want >= 0.5 else 1) and out.startswith("MATCH" if want >= 0.5 else "NO MATCH")
        code = cli.main(["identify", "--model", str(d / "m.npz"), "--db", str(d / "db"), str(d / f"f{k}.png")])
        out = capsys.readouterr().out
        assert f"P(same) {float(want):.3f}" in out and code == (0 if want >= 0.5 else 1)
    code = cli.main(["verify", "--model", str(d / "m.npz"), "--db", str(d / "db"), "--tau", "0.3", "ann",
                     str(d / "f1.png")])
    err = capsys.readouterr().err
    assert code == 2 and "--tau" in err and "binary head" in err and len(err.strip().splitlines()) == 1


def test_cli_evaluate_reports_the_rule(head_files, capsys):
    d, _, _ = head_files
    assert cli.main(["evaluate", "--model", str(d / "m.npz"), "--trials", "20", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["decision_rule"] == RULE_HEAD and r["threshold"] == 0.5
    assert cli.main(["evaluate", "--model", str(d / "m.npz"), "--trials", "20"]) == 0
    assert "decision rule              head probability >= 0.5" in capsys.readouterr().out
