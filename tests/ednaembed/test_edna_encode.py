"""Encoding: one-hot, IUPAC fractions, masks, reverse complement."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dmlcore.errors import InputError
from ednaembed.encode import lengths_of, mask_of, one_hot, reverse_complement_onehot
from ednaembed.io import reverse_complement


def test_one_hot_and_iupac():
    x = one_hot(["ACGTN", "ry"], length=6)
    assert x.shape == (2, 4, 6) and x.dtype == np.float32
    assert x[0, :, :4].argmax(0).tolist() == [0, 1, 2, 3]
    assert np.allclose(x[0, :, 4], 0.25)
    assert np.allclose(x[1, :, 0], [0.5, 0, 0.5, 0]) and np.allclose(x[1, :, 1], [0, 0.5, 0, 0.5])
    assert np.allclose(x.sum(1)[0], [1, 1, 1, 1, 1, 0])
    assert lengths_of(x).tolist() == [5, 2]


def test_reverse_complement_consistent():
    seqs = ["ACGTTGCAR", "GGA", "ACCCA"]
    x = one_hot(seqs, length=10)
    rc = reverse_complement_onehot(x)
    assert np.allclose(rc, one_hot([reverse_complement(s) for s in seqs], length=10))
    assert np.allclose(reverse_complement_onehot(torch.from_numpy(x)).numpy(), rc)
    assert np.array_equal(mask_of(rc), mask_of(x))


def test_errors():
    with pytest.raises(InputError, match="shorter"):
        one_hot(["ACG"], min_length=10)
    with pytest.raises(InputError, match="non-nucleotide"):
        one_hot(["AC#G"])


def test_vectorised_one_hot_matches_per_sequence_encoding():
    """The batch encoder (one buffer, gathers) equals encoding each sequence alone, for any lengths."""
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTRYKMSWBDHVNacgtuU"), int(n))) for n in rng.integers(1, 90, size=200)]
    for L in (None, 50, 120):
        x = one_hot(seqs, length=L)
        LL = x.shape[2]
        for i in (0, 7, 199):
            alone = one_hot([seqs[i]], length=LL)[0]
            assert np.array_equal(x[i], alone)
            n = min(len(seqs[i]), LL)
            assert mask_of(x)[i].sum() == n and np.allclose(x[i].sum(0)[:n], 1.0)
    equal = one_hot(["ACGT", "TTTT"], length=4)
    assert equal[1, :, 3].tolist() == [0.0, 0.0, 0.0, 1.0] and equal.flags.writeable
