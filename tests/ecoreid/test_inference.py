"""ecoreid.inference: truth, ranking/assignment, overrides, network from scored neighbours."""

import numpy as np
import pandas as pd
import pytest

from dmlcore.errors import SchemaError
from ecoreid.inference import apply_overrides, assign_individuals, build_network, rank_individuals, read_truth


def test_read_truth_checks_the_schema_and_matches_by_id():
    photos = pd.DataFrame({"image": ["a.jpg", "b.jpg"], "path": ["/x/a.jpg", "/x/b.jpg"]})
    truth = read_truth(pd.DataFrame({"image": ["a.jpg"], "individual_id": ["G1"]}), photos)
    assert truth.tolist() == ["G1", None]
    with pytest.raises(SchemaError, match="must be unique"):
        read_truth(pd.DataFrame({"image": ["a.jpg", "a.jpg"], "individual_id": ["G1", "G2"]}), photos)
    with pytest.raises(SchemaError, match="individual_id"):
        read_truth(pd.DataFrame({"image": ["a.jpg"]}), photos)


def test_assign_new_individuals_per_community_and_overrides():
    pairs = pd.DataFrame({"query": [0, 1, 2], "gallery": [0, 1, 1], "prob": [0.9, 0.2, 0.3]})
    rank = rank_individuals(pairs, ["G1", "G2"], n_queries=3, top=5)
    a = assign_individuals(rank, threshold=0.5, q_names=["q0", "q1", "q2"], q_comm=[0, 4, 4])
    assert a["proposed_individual"].tolist() == ["G1", "new_001", "new_001"]
    ov = pd.DataFrame({"image": ["q1", "q0"], "decision": ["confirm", "reject"], "individual_id": ["G2", "G1"]})
    b = apply_overrides(a, ov, threshold=0.5).set_index("image")
    assert b.loc["q1", "proposed_individual"] == "G2" and b.loc["q1", "decision"] == "confirmed"
    assert b.loc["q0", "candidate_1"] != "G1" and bool(b.loc["q0", "is_new"])


def test_build_network_uses_the_given_neighbours_and_extra_pairs():
    nodes = ["a", "b", "c", "d"]
    nn = np.array([[1], [0], [3], [2]])
    probs = np.array([[0.9], [0.9], [0.1], [0.1]])
    extra = pd.DataFrame({"i": [2], "j": [3], "prob": [0.8], "cosine": [0.5]})
    G, comm = build_network(nodes, neighbours=nn, probs=probs, method="components")
    assert G.number_of_edges() == 1 and comm[2] != comm[3]
    G, comm = build_network(nodes, neighbours=nn, probs=probs, method="components", extra_pairs=extra)
    assert G.number_of_edges() == 2 and comm[2] == comm[3] and G["c"]["d"]["cosine"] == 0.5
