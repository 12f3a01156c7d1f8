"""The Community object and the stage functions that run, and the CLI, share."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from skbio import DistanceMatrix

from dmlcore.errors import InputError
from ednaembed import io as eio
from ednaembed import stages
from ednaembed.cluster import IdentityClusterer
from ednaembed.community import Community
from ednaembed.config import RunConfig
from ednaembed.map import SampleMap


def test_community_from_reads_and_drop_short():
    reads = pd.DataFrame({"sample_id": ["A", "A", "B"], "sequence": ["ACGTACGT", "ACG", "ACGTACGT"],
                          "count": [3, 1, 2]})
    c = Community.from_reads(reads)
    assert c.sample_ids == ["A", "B"] and c.sequences == ["ACGTACGT", "ACG"] and c.n_reads == 6
    c2 = dataclasses.replace(c, embeddings=np.eye(2, dtype=np.float32)).drop_short(5)
    assert c2.sequences == ["ACGTACGT"] and c2.embeddings.shape == (1, 2) and c2.n_reads == 5
    only_short = Community.from_reads(reads.assign(sample_id=["A", "B", "A"]))
    with pytest.raises(InputError, match="no reads left"):
        only_short.drop_short(5)


def test_stages_carry_one_community(sim_files, tiny_model_path, small_sim, monkeypatch):
    """read -> embed -> cluster -> map -> assess, the sample sheet read once."""
    files, sheet = sim_files
    calls = []
    monkeypatch.setattr(stages, "read_sample_sheet", lambda *a, **k: calls.append(a) or eio.read_sample_sheet(*a, **k))
    cfg = RunConfig(checkpoint=str(tiny_model_path), map_method="pca", permutations=9)
    c = stages.read(files, samples=sheet, config=cfg, progress=False)
    assert len(calls) == 1 and c.sample_ids == sorted(small_sim.samples["sample_id"])
    model, info = stages.get_encoder(cfg, c, progress=False)
    c = stages.embed(c, model, model_info=info, config=cfg, progress=False)
    assert c.embeddings.shape[0] == len(c.uniques)
    clus = IdentityClusterer(identity=0.97)
    c = stages.cluster(c, clus, scale=info.get("scale", 1.0))
    assert isinstance(c.unit_distances, DistanceMatrix) and list(c.unit_distances.ids) == c.motus["motu_id"].tolist()
    assert c.table.to_numpy().sum() == c.assignments.loc[c.assignments["motu_id"].notna(), "abundance"].sum()
    assert (c.assignments["sequence"] == c.uniques["sequence"]).all()
    c = stages.map_samples(c, SampleMap(method="pca"))
    assert c.sample_map["sample_id"].tolist() == c.sample_ids and "habitat" in c.sample_map.columns
    metrics = stages.assess(c, permutations=9)
    assert {"map", "pcoa_braycurtis"} == set(metrics) and "mantel_sequence" in metrics["map"]


def test_unit_distances_estimated_beyond_exact_max():
    seqs = ["ACGT" * 10, "TTGCA" * 8, "GGGCCCAAAT" * 4]
    c = IdentityClusterer().fit(seqs, np.eye(3, dtype=np.float32), abundances=[3, 2, 1])
    exact = stages.unit_distances(c)
    est = stages.unit_distances(c, scale=0.5, exact_max=1)
    assert exact.ids == est.ids and est["MOTU_0001", "MOTU_0002"] == pytest.approx(0.5 * np.sqrt(2))


def test_deprecated_pipeline_names_warn():
    import ednaembed.pipeline as pl
    from ednaembed.results import OUTPUT_FILES
    from ednaembed.train import bundled_checkpoint

    with pytest.warns(DeprecationWarning, match="ednaembed.train.bundled_checkpoint"):
        assert pl.bundled_checkpoint is bundled_checkpoint
    with pytest.warns(DeprecationWarning, match="ednaembed.results.OUTPUT_FILES"):
        assert pl.OUTPUT_FILES is OUTPUT_FILES
    with pytest.warns(DeprecationWarning, match="ednaembed.align.edit_distance"):
        from ednaembed.train import edit_distance  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import ednaembed  # noqa: F401  (importing the package warns about nothing)
