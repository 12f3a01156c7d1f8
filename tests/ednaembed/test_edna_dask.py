"""Scale-out on Dask (issue 7): a real LocalCluster (scheduler + 2 worker processes on loopback)
gives the same result as the single-process run on the bundled demo data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ednaembed import run
from ednaembed.cli import main as cli_main

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # starts 3 processes (scheduler, 2 workers): ~20 s on 2 cores


@pytest.fixture
def client(dask_client):
    return dask_client  # one LocalCluster per test session (tests/conftest.py)


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    """The demo's simulated run (bundled real 16S V4 references), smaller: 12 samples x 600 reads."""
    from ednaembed.simulate import simulate_community, write_sample_files

    sim = simulate_community(n_samples=12, n_habitats=3, reads_per_sample=600, chimera_rate=0.01, seed=0)
    return write_sample_files(sim, tmp_path_factory.mktemp("demo") / "input", seed=0)


def _worker_model_counts(client) -> dict:
    def n_models():
        from dmlcore import distributed as d

        return len(d._MODEL_CACHE)

    return client.run(n_models)


def test_run_on_cluster_equals_single_process(client, demo_files, tmp_path):
    files, sheet = demo_files
    opts = dict(samples=sheet, max_ee=2.0, map_method="pca", permutations=19, progress=False, seed=0,
                batch_size=256, partition_size=512)  # several partitions -> both workers embed
    local = run(files, out=tmp_path / "local", **opts)
    dist = run(files, out=tmp_path / "dask", client=client, **opts)
    # the embedding really ran in the worker processes (their model cache holds the checkpoint)
    assert sum(_worker_model_counts(client).values()) >= 1
    assert dist.report["compute"]["dask"]["n_workers"] == 2 and local.report["compute"]["dask"] is None
    assert local.report["summary"]["n_unique_sequences"] > 1000
    pd.testing.assert_frame_equal(dist.motu_table, local.motu_table)
    pd.testing.assert_frame_equal(dist.read_assignments, local.read_assignments, check_exact=False, atol=1e-6)
    pd.testing.assert_frame_equal(dist.sample_map, local.sample_map, check_exact=False, atol=1e-4)
    np.testing.assert_allclose(dist.sample_embeddings.drop(columns="sample_id").to_numpy(float),
                               local.sample_embeddings.drop(columns="sample_id").to_numpy(float), atol=1e-5)
    assert dist.report["summary"] == local.report["summary"]


def test_cli_embed_with_scheduler_equals_local(client, demo_files, tmp_path):
    files, _ = demo_files
    files = [str(f) for f in files[:3]]
    assert cli_main(["--quiet", "embed", "--reads", *files, "--out", str(tmp_path / "local.parquet")]) == 0
    assert cli_main(["--quiet", "embed", "--reads", *files, "--out", str(tmp_path / "dask.parquet"),
                     "--scheduler", client.scheduler.address]) == 0
    a, b = pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "dask.parquet")
    pd.testing.assert_frame_equal(a[["seq_id", "sequence", "abundance"]], b[["seq_id", "sequence", "abundance"]])
    e = [c for c in a.columns if c.startswith("e") and c[1:].isdigit()]
    np.testing.assert_allclose(b[e].to_numpy(), a[e].to_numpy(), atol=1e-5)


def test_read_errors_on_workers_reach_the_user(client, tmp_path):
    bad = tmp_path / "bad.fasta"
    bad.write_text(">r1\nACGTXACGT\n")
    from dmlcore.errors import InputError
    from ednaembed.io import read_reads

    with pytest.raises(InputError, match="non-nucleotide"):
        read_reads([bad], client=client)


def test_cli_run_with_scheduler_equals_local(client, demo_files, tmp_path):
    files, _ = demo_files
    files = [str(f) for f in files[:5]]  # samples named after the files (no sheet)
    common = ["--reads", *files, "--map-method", "pca", "--permutations", "9", "--max-ee", "2"]
    assert cli_main(["--quiet", "run", *common, "--out", str(tmp_path / "local")]) == 0
    assert cli_main(["--quiet", "run", *common, "--out", str(tmp_path / "dask"), "--scheduler", client.scheduler.address]) == 0
    for name in ("motu_table.csv", "sample_map.csv"):
        a, b = pd.read_csv(tmp_path / "local" / name), pd.read_csv(tmp_path / "dask" / name)
        pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-4)
    import json

    rep = json.loads((tmp_path / "dask" / "report.json").read_text())
    assert rep["compute"]["dask"]["n_workers"] == 2


def test_clustering_on_cluster_equals_local(client):
    """Sample-then-assign (the rest assigned on the workers) and the graph mode's sharded kNN
    give the single-process partition."""
    from ednaembed import io as eio
    from ednaembed.cluster import make_clusterer
    from ednaembed.simulate import simulate_community
    from ednaembed.train import bundled_checkpoint, embed_sequences, load_encoder

    sim = simulate_community(n_samples=4, n_habitats=2, reads_per_sample=500, seed=1)
    u = eio.dereplicate(sim.reads[["sample_id", "sequence", "count"]])
    seqs, ab = u["sequence"].tolist(), u["abundance"].to_numpy()
    model, _ = load_encoder(bundled_checkpoint())
    Z = embed_sequences(model, seqs, progress=False, device="cpu")
    for kw in (dict(mode="identity", sample_size=len(seqs) // 5, chunk_size=32), dict(mode="graph", k=6)):
        loc = make_clusterer(**kw).fit(seqs, Z, abundances=ab)
        dist = make_clusterer(client=client, **kw).fit(seqs, Z, abundances=ab)
        np.testing.assert_array_equal(dist.labels_, loc.labels_)
        np.testing.assert_allclose(dist.probabilities_, loc.probabilities_)
        pd.testing.assert_frame_equal(dist.motus_, loc.motus_)
        assert dist.n_alignments_ == loc.n_alignments_
