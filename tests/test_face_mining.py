"""Triplet mining rules on hand-made distance matrices, the P x K sampler, collapse warnings."""
import warnings

import numpy as np
import pytest

from minicnn.face import mining as M

# Batch: images 0, 1 are person A; 2, 3 person B. Symmetric squared distances.
LABELS = np.array([0, 0, 1, 1])
D = np.array([
    [0.0, 1.0, 1.1, 3.0],
    [1.0, 0.0, 0.5, 2.0],
    [1.1, 0.5, 0.0, 0.4],
    [3.0, 2.0, 0.4, 0.0],
])


def triplets(a, p, n):
    return sorted(zip(a.tolist(), p.tolist(), n.tolist()))


def test_batch_all_lists_every_valid_triplet():
    got = triplets(*M.batch_all(D, LABELS))
    # each of 4 anchors has 1 positive and 2 negatives
    assert got == [(0, 1, 2), (0, 1, 3), (1, 0, 2), (1, 0, 3), (2, 3, 0), (2, 3, 1), (3, 2, 0), (3, 2, 1)]


def test_batch_hard_picks_farthest_positive_nearest_negative():
    got = triplets(*M.batch_hard(D, LABELS))
    # anchor 0: only positive 1; nearest negative 2 (1.1 < 3.0); anchor 1: negative 2 (0.5)
    # anchor 2: positive 3; nearest negative 1 (0.5); anchor 3: nearest negative 1 (2.0)
    assert got == [(0, 1, 2), (1, 0, 2), (2, 3, 1), (3, 2, 1)]


def test_semi_hard_rule():
    got = dict(((a, p), n) for a, p, n in zip(*M.semi_hard(D, LABELS, alpha=0.2)))
    # (0,1): d_ap = 1.0; negatives 1.1 (semi-hard: 1.0 < 1.1 < 1.2) and 3.0 -> 2
    assert got[(0, 1)] == 2
    # (1,0): d_ap = 1.0; negatives 0.5 (hard) and 2.0 (farther) -> nearest farther one = 3
    assert got[(1, 0)] == 3
    # (2,3): d_ap = 0.4; negatives 1.1, 0.5 -> nearest farther = 1 (0.5, semi-hard)
    assert got[(2, 3)] == 1
    # (3,2): d_ap = 0.4; negatives 3.0, 2.0 -> 1 (2.0, easy but the nearest farther)
    assert got[(3, 2)] == 1


def test_semi_hard_falls_back_to_least_hard_negative():
    d = np.array([[0, 5, 1, 2], [5, 0, 3, 4], [1, 3, 0, 1], [2, 4, 1, 0]], dtype=float)
    got = dict(((a, p), n) for a, p, n in zip(*M.semi_hard(d, LABELS)))
    # anchor 0, positive 1 at 5: every negative (1, 2) is closer -> the farthest of them, 3
    assert got[(0, 1)] == 3


def test_triplet_types_partition():
    st = M.triplet_types(D, LABELS, alpha=0.2)
    # d_ap, d_an per triplet: (0,1,2) 1.0/1.1 semi; (0,1,3) 1.0/3.0 easy; (1,0,2) 1.0/0.5 hard;
    # (1,0,3) 1.0/2.0 easy; (2,3,0) 0.4/1.1 easy; (2,3,1) 0.4/0.5 semi; (3,2,0) 0.4/3.0 easy;
    # (3,2,1) 0.4/2.0 easy
    assert st == {"easy": 5 / 8, "semihard": 2 / 8, "hard": 1 / 8, "n_triplets": 8}
    a, p, n = M.batch_all(D, LABELS)
    assert M.active_fraction(D, a, p, n, 0.2) == pytest.approx(3 / 8)


def test_duplicate_groups_are_not_positives():
    groups = np.array([0, 0, 1, 2])  # images 0 and 1 are the same photo
    a, p, n = M.batch_all(D, LABELS, groups)
    assert 0 not in a and 1 not in a  # person A has no distinct second photo
    assert triplets(a, p, n) == [(2, 3, 0), (2, 3, 1), (3, 2, 0), (3, 2, 1)]


def test_mine_dispatch_and_errors():
    assert triplets(*M.mine(D, LABELS, "hard")) == triplets(*M.batch_hard(D, LABELS))
    with pytest.raises(ValueError, match="mining must be one of"):
        M.mine(D, LABELS, "random")
    with pytest.raises(ValueError, match=r"dist must be \(B, B\)"):
        M.batch_all(D[:3], LABELS)


def test_collapse_warning():
    with pytest.warns(M.CollapseWarning, match="collapsed"):
        assert M.check_collapse(np.ones((5, 3)) / np.sqrt(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not M.check_collapse(np.eye(4))
    assert M.spread(np.eye(2)) == pytest.approx(0.5)  # each point 1/sqrt(2) from the centroid


def test_pk_sampler_layout():
    labels = np.repeat(np.arange(6), [5, 5, 3, 2, 4, 1])  # identity 5 has one image: never drawn
    s = M.PKSampler(labels, P=3, K=4, seed=0)
    assert len(s) == int(np.ceil(len(labels) / 12))
    seen = set()
    for _ in range(10):
        for idx in s:
            assert idx.shape == (12,)
            y = labels[idx].reshape(3, 4)
            assert (y == y[:, :1]).all() and len(set(y[:, 0])) == 3
            seen.update(y[:, 0].tolist())
            for row in idx.reshape(3, 4):  # distinct images whenever the identity has K of them
                if (labels == labels[row[0]]).sum() >= 4:
                    assert len(set(row.tolist())) == 4
    assert seen == {0, 1, 2, 3, 4}
    with pytest.raises(ValueError, match="needs >= 2 identities"):
        M.PKSampler([0, 0, 1], P=2, K=2)
