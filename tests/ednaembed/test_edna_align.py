"""Every exact alignment (ednaembed.align): identity, edit distances, primers."""
from __future__ import annotations

import numpy as np
import pytest

from ednaembed.align import (
    best_candidate,
    distance_matrix,
    edit_distance,
    find_primer,
    identity,
    normalised_edit_distances,
)


def test_identity():
    assert identity("A" * 100, "A" * 97 + "CCC") == pytest.approx(0.97)
    assert identity("A" * 100, "C" * 100, min_identity=0.9) == -1.0


def test_best_candidate_early_stops():
    seq = "ACGT" * 25
    near = ["ACGT" * 24 + "ACGA", "ACGT" * 24 + "ACCA", "ACGT" * 24 + "AGGA", "ACGT" * 24 + "TTTT"]
    pos, v, n = best_candidate(seq, near, cut=0.97, max_accepts=1)
    assert (pos, n) == (0, 1) and v == pytest.approx(0.99)
    pos, v, n = best_candidate(seq, near, cut=0.97)
    assert pos == 0 and n == 4
    assert best_candidate(seq, ["T" * 100], cut=0.97)[0] == -1


def test_edit_distances_and_matrix():
    a, b = ["ACGT", "AAAA", "ACGTAC"], ["ACGA", "AAAA", "ACG"]
    np.testing.assert_allclose(normalised_edit_distances(a, b), [edit_distance(x, y) for x, y in zip(a, b)])
    dm = distance_matrix(a, ["x", "y", "z"])
    assert dm.ids == ("x", "y", "z") and dm["x", "z"] == pytest.approx(2 / 6)


def test_find_primer_iupac_and_ends():
    assert find_primer("GTGYCAGCMGCCGCGGTAA", "GTGCCAGCAGCCGCGGTAATTTT", max_diffs=1) == 19
    assert find_primer("GTGYCAGCMGCCGCGGTAA", "TTTTTTTTTTTTTTTTTTTTTTT", max_diffs=1) is None
    assert find_primer("GGAA", "TTTTGGAA", max_diffs=0, at_start=False) == 4
