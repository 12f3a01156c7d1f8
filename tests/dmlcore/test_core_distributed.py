"""Distributed stages on a real LocalCluster (scheduler and worker processes on loopback)."""

import functools

import numpy as np
import pandas as pd
import pytest
import torch

from dmlcore.demo import DigitsCNN
from dmlcore.distributed import distributed_embed, get_client, sharded_knn
from dmlcore.embed import embed
from dmlcore.index import KNNIndex
from dmlcore.train import save_checkpoint


def digits_factory(config):
    return DigitsCNN(**config)


@pytest.fixture
def client(dask_client):
    return dask_client  # one LocalCluster per test session (tests/conftest.py)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_sharded_knn_equals_single_index(client, tmp_path, metric):
    x = np.random.default_rng(1).normal(size=(900, 16)).astype(np.float32)
    idx = KNNIndex(metric=metric)
    idx.add(x)
    ref_s, ref_i = idx.search(None, 7)
    # shards as files that only the workers read
    paths = []
    for n, part in enumerate(np.array_split(x, 3)):
        p = tmp_path / f"shard{n}.npy"
        np.save(p, part)
        paths.append(str(p))
    s, i = sharded_knn(paths, 7, metric=metric, client=client)
    assert np.array_equal(i, ref_i)
    np.testing.assert_allclose(s, ref_s, atol=1e-5)
    q = x[:50] + 0.01
    s2, i2 = sharded_knn(paths, 5, queries=q, metric=metric, client=client)
    assert np.array_equal(i2, idx.search(q, 5)[1])


def test_distributed_embed_equals_single_process(client, tmp_path):
    torch.manual_seed(0)
    model = DigitsCNN(embedding_size=16, width=8)
    ck = save_checkpoint(tmp_path / "m.safetensors", model, config={"embedding_size": 16, "width": 8},
                         model_name="DigitsCNN")
    x = np.random.default_rng(0).random((300, 1, 8, 8)).astype(np.float32)
    parts = np.array_split(x, 4)
    factory = functools.partial(digits_factory)
    out = distributed_embed(parts, checkpoint=ck, model_factory=factory, client=client,
                            out_dir=tmp_path / "emb", expected_model="DigitsCNN", device="cpu", progress=False)
    assert [p.split("/")[-1] for p in out] == [f"part-0000{n}.parquet" for n in range(4)]
    got = pd.concat([pd.read_parquet(p) for p in out]).filter(regex=r"^e\d+$").to_numpy(np.float32)
    ref = embed(model, x, progress=False, device="cpu")
    np.testing.assert_allclose(got, ref, atol=1e-5)
    local = distributed_embed(parts, checkpoint=ck, model_factory=factory, client=None, device="cpu", progress=False)
    np.testing.assert_allclose(np.concatenate(local), ref, atol=1e-6)


def test_get_client_errors():
    assert get_client(None) is None
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler"):
        get_client("tcp://127.0.0.1:1", timeout=2)
