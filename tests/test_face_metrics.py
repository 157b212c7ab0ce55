"""Verification and recognition metrics on hand-computed cases."""
import numpy as np
import pytest

from minicnn.face import metrics as Mt


def test_pairwise_sq_dists():
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(Mt.pairwise_sq_dists(a), [[0, 25], [25, 0]])
    np.testing.assert_allclose(Mt.pairwise_sq_dists(a, np.array([[0.0, 1.0]])), [[1], [18]])


def test_best_threshold_hand_case():
    dist = np.array([0.1, 0.2, 0.3, 0.35, 0.5, 0.9])
    same = np.array([1, 1, 0, 1, 0, 0], bool)
    tau, acc = Mt.best_threshold(dist, same)
    # cut after 0.2 -> 5/6 correct (0.35 wrong); cut after 0.35 -> 5/6 too (0.3 wrong); first wins
    assert acc == pytest.approx(5 / 6) and tau == pytest.approx(0.25)
    # perfectly separable
    tau, acc = Mt.best_threshold([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])
    assert acc == 1.0 and 0.2 < tau < 0.8
    # ties must not be split
    tau, acc = Mt.best_threshold([0.5, 0.5], [1, 0])
    assert acc == 0.5


def test_verification_accuracy_cv():
    rng = np.random.default_rng(0)
    same = rng.random(400) < 0.5
    dist = np.where(same, rng.uniform(0, 1, 400), rng.uniform(1.2, 2, 400))
    r = Mt.verification_accuracy(dist, same)
    assert r["accuracy"] == 1.0 and len(r["thresholds"]) == 10
    assert all(1.0 <= t <= 1.2 for t in r["thresholds"])
    assert Mt.verification_accuracy(rng.random(400), same)["accuracy"] < 0.65  # chance level


def test_roc_auc_eer_tar():
    dist = np.array([0.1, 0.4, 0.35, 0.8])
    same = np.array([1, 1, 0, 0], bool)
    far, tar, thr = Mt.roc_curve(dist, same)
    np.testing.assert_allclose(far, [0, 0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(tar, [0, 0.5, 0.5, 1.0, 1.0])
    # 3 of the 4 (positive, negative) pairs are ordered correctly
    assert Mt.roc_auc(dist, same) == pytest.approx(0.75)
    assert Mt.eer(dist, same) == pytest.approx(0.5)
    assert Mt.tar_at_far(dist, same, 0.0) == pytest.approx(0.5)
    assert Mt.tar_at_far(dist, same, 0.5) == pytest.approx(1.0)
    perfect = (np.array([0.1, 0.2, 0.7, 0.9]), np.array([1, 1, 0, 0], bool))
    assert Mt.roc_auc(*perfect) == 1.0 and Mt.eer(*perfect) == 0.0
    assert Mt.roc_auc([0.5, 0.5], [1, 0]) == 0.5  # a tie counts half


def test_verification_pairs_balanced_and_skip_duplicates():
    labels = np.array([0, 0, 0, 1, 1, 2])
    groups = np.array([0, 0, 1, 2, 3, 4])  # images 0 and 1 are copies
    i, j, same = Mt.verification_pairs(labels, groups, seed=0)
    pos = {(a, b) for a, b, s in zip(i, j, same) if s}
    assert pos == {(0, 2), (1, 2), (3, 4)}  # (0, 1) is excluded: same photo
    assert same.sum() == (~same).sum() == 3
    assert all(labels[a] != labels[b] for a, b, s in zip(i, j, same) if not s)


def _clustered(n_ids=6, per=4, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(n_ids, 8)
    labels = np.repeat(np.arange(n_ids), per)
    return centres[labels] + rng.normal(0, noise, (len(labels), 8)), labels


def test_oneshot_and_rank1_perfect_and_chance():
    emb, labels = _clustered()
    assert Mt.oneshot_accuracy(emb, labels, ways=5, trials=200) == 1.0
    assert Mt.rank1_accuracy(emb, labels) == 1.0
    rng = np.random.default_rng(1)
    acc = Mt.oneshot_accuracy(rng.normal(size=emb.shape), labels, ways=5, trials=2000)
    assert 0.15 < acc < 0.25  # chance = 1/5
    with pytest.raises(ValueError, match="ways must be in"):
        Mt.oneshot_accuracy(emb, labels, ways=7)


def test_oneshot_never_uses_a_duplicate_as_probe():
    # identity 0's two images are identical copies, identity 1's are not: identity 0 cannot be probed
    emb = np.array([[0.0], [0.0], [5.0], [5.1], [9.0], [9.2]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    groups = np.array([7, 7, 1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"ways must be in \[2, 2\]"):
        Mt.oneshot_accuracy(emb, labels, groups, ways=3)
    assert Mt.oneshot_accuracy(emb, labels, groups, ways=2, trials=50) == 1.0


def test_error_grows_with_k():
    emb, labels = _clustered(n_ids=8, per=3, noise=0.45, seed=2)
    ks, err = Mt.error_vs_k(emb, labels, trials=400)
    assert ks.tolist() == list(range(2, 9))
    assert err[-1] > err[0]


def test_open_set():
    emb, labels = _clustered(n_ids=6, per=3, noise=0.01)
    r = Mt.open_set(emb, labels, tau=0.5)  # same ~0.0004, different ~2
    assert r == {"unknown_rejection": 1.0, "known_identification": 1.0}
    r = Mt.open_set(emb, labels, tau=10.0)  # accepts everyone: no unknown is rejected
    assert r["unknown_rejection"] == 0.0 and r["known_identification"] == 1.0


def test_evaluate_embeddings_keys():
    emb, labels = _clustered()
    r = Mt.evaluate_embeddings(emb, labels, ways=5, trials=100)
    for k in ("verification_accuracy", "roc_auc", "eer", "oneshot_accuracy", "ways", "n_identities",
              "n_images", "rank1_accuracy", "unknown_rejection", "tar_at_far_0.01"):
        assert k in r
    assert r["verification_accuracy"] == 1.0 and r["n_images"] == 24 and r["ways"] == 5
