"""Any marker: long sequences embedded whole, candidate recall, fine-tuning when the encoder
does not fit, and VSEARCH's identity and greedy rule against brute-force references."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from Bio import Align

from dmlcore.metrics import clustering_metrics
from ednaembed.cluster import IdentityClusterer, candidate_recall, vsearch_identity, word_matrix
from ednaembed.community import Community
from ednaembed.config import RunConfig
from ednaembed.models import build_model
from ednaembed.simulate import mutate
from ednaembed.stages import check_encoder
from ednaembed.train import bundled_checkpoint, embed_sequences, load_encoder, split_windows

BASES = np.array(list("ACGT"))


def _random_seq(rng, n: int) -> str:
    return "".join(rng.choice(BASES, n))


def _families(seed: int, n_fam: int = 6, per: int = 8, length: int = 400, rate: float = 0.01):
    """``n_fam`` unrelated random sequences (a marker nobody trained on) and mutated copies of each."""
    rng = np.random.default_rng(seed)
    seqs, fam = [], []
    for f in range(n_fam):
        root = _random_seq(rng, length)
        seqs.append(root), fam.append(f)
        for _ in range(per - 1):
            s, _ = mutate(root, rng, sub_rate=rate, indel_rate=rate / 5)
            if s not in seqs:
                seqs.append(s), fam.append(f)
    ab = rng.integers(1, 50, len(seqs))
    return seqs, np.array(fam), ab


# --------------------------------------------------------------------------- windows
def test_split_windows_cover_every_base():
    seq = "".join(np.random.default_rng(0).choice(BASES, 1000))
    pieces, owner = split_windows([seq, "ACGT" * 10], length=320)
    assert (owner == 0).sum() == 6 and owner[-1] == 1
    covered = np.zeros(1000, bool)
    start = 0
    for p in pieces[:6]:
        start = seq.find(p, start if start < 1000 - 320 else 1000 - 320)
        covered[start : start + 320] = True
    assert covered.all() and pieces[-1] == "ACGT" * 10


def test_long_sequence_embedded_whole_and_deterministic():
    model, _ = load_encoder(bundled_checkpoint())
    rng = np.random.default_rng(1)
    seq = _random_seq(rng, 1000)
    tail_changed = seq[:900] + _random_seq(rng, 100)  # differs only beyond the encoder's 320 nt
    a = embed_sequences(model, [seq, tail_changed], progress=False, device="cpu")
    b = embed_sequences(model, ["ACGT" * 20, seq], progress=False, device="cpu", batch_size=1)
    assert a.shape == (2, 128) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(a[0], b[1], atol=1e-6)  # same embedding in another batch
    assert not np.allclose(a[0], a[1], atol=1e-4)  # the last 100 nt count: nothing was cut


# --------------------------------------------------------------------------- recall
def test_candidate_recall_against_exact_alignment():
    seqs, fam, _ = _families(2)
    perfect = np.eye(fam.max() + 1, dtype=np.float32)[fam] + 1e-3 * np.random.default_rng(0).random(
        (len(seqs), fam.max() + 1)).astype(np.float32)
    useless = np.random.default_rng(3).normal(size=(len(seqs), 8)).astype(np.float32)
    good = candidate_recall(seqs, perfect, k=8, n_queries=40, seed=0)
    bad = candidate_recall(seqs, useless, k=2, n_queries=40, seed=0)
    words = candidate_recall(seqs, None, k=8, n_queries=40, seed=0)
    assert good["n_with_neighbours"] > 20 and good["recall"] == 1.0 and good["nearest_rate"] == 1.0
    assert bad["recall"] < 0.6
    assert words["recall"] == 1.0 and words["method"] == "words"
    # unrelated sequences only: no query has a true neighbour
    lone = [_random_seq(np.random.default_rng(i), 200) for i in range(10)]
    assert candidate_recall(lone, useless[:10], k=3)["n_with_neighbours"] == 0


# --------------------------------------------------------------------------- fine-tuning
def _community(seqs, ab) -> Community:
    reads = pd.DataFrame({"sample_id": [f"S{i % 3}" for i in range(len(seqs))], "sequence": seqs, "count": ab})
    return Community.from_reads(reads)


def test_finetune_triggered_on_an_unseen_marker():
    seqs, _, ab = _families(4, n_fam=8, per=6, length=360)
    community = _community(seqs, ab)
    model = build_model({"embedding_size": 16, "channels": 8, "n_blocks": 2, "max_length": 320, "head": "pool"}).eval()
    cfg = RunConfig(finetune="auto", min_recall=0.999, finetune_seconds=0.0, device="cpu", seed=0,
                    prefilter="embedding")
    tuned, info = check_encoder(model, {"source": "checkpoint", "scale": 0.5}, community, cfg)
    rec = info["recall"]
    assert rec["before"]["recall"] < 0.999 and rec["words"]["recall"] >= rec["before"]["recall"]
    assert "after" in rec and info["finetune"]["epochs"] >= 1 and tuned is not model
    assert info["source"].startswith("checkpoint fine-tuned")
    # a threshold the encoder meets: measured, not fine-tuned; "never": not even measured
    _, info2 = check_encoder(model, {"source": "checkpoint"}, community,
                             RunConfig(min_recall=0.0, device="cpu", prefilter="embedding"))
    assert info2["finetune"] is None and "after" not in info2["recall"]
    # the word prefilter beside the embedding: the MOTUs do not depend on it, so "auto" only measures
    _, info4 = check_encoder(model, {"source": "checkpoint"}, community, RunConfig(min_recall=0.999, device="cpu"))
    assert info4["finetune"] is None and info4["recall"]["before"]["recall"] < 0.999
    _, info3 = check_encoder(model, {"source": "checkpoint"}, community, RunConfig(finetune="never"))
    assert "recall" not in info3


# --------------------------------------------------------------------------- identity and greedy rule
def _biopython_iddef2(a: str, b: str) -> float:
    al = Align.PairwiseAligner(mode="global", match_score=2, mismatch_score=-4)
    al.open_internal_gap_score, al.extend_internal_gap_score = -22, -2
    al.open_end_gap_score, al.extend_end_gap_score = -3, -1
    x, y = al.align(a, b)[0]
    cols = [(p, q) for p, q in zip(x, y)]
    while cols and "-" in cols[0]:
        cols.pop(0)
    while cols and "-" in cols[-1]:
        cols.pop()
    return sum(p == q for p, q in cols) / len(cols)


def test_vsearch_identity_matches_an_affine_reference():
    rng = np.random.default_rng(5)
    diffs = []
    for _ in range(40):
        a = _random_seq(rng, int(rng.integers(150, 300)))
        b, _ = mutate(a, rng, sub_rate=0.02, indel_rate=0.01)
        diffs.append(abs(vsearch_identity(a, b) - _biopython_iddef2(a, b)))
    assert np.median(diffs) == 0.0 and np.mean(np.array(diffs) < 0.005) >= 0.9
    assert vsearch_identity("ACGT" * 20, "ACGT" * 20) == 1.0
    assert vsearch_identity("A" * 100, "C" * 100, min_identity=0.97) == -1.0


@pytest.mark.skipif(shutil.which("vsearch") is None, reason="vsearch not installed (apt-get install vsearch)")
def test_vsearch_identity_matches_vsearch(tmp_path):
    rng = np.random.default_rng(6)
    seqs = [_random_seq(rng, 300)]
    for _ in range(5):
        seqs.append(mutate(seqs[0], rng, sub_rate=0.02, indel_rate=0.008)[0])
    fa = tmp_path / "s.fa"
    fa.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    out = tmp_path / "ap.tsv"
    subprocess.run(["vsearch", "--allpairs_global", str(fa), "--acceptall", "--iddef", "2", "--userout", str(out),
                    "--userfields", "query+target+id", "--quiet", "--threads", "1"], check=True)
    rows = [r.split("\t") for r in out.read_text().splitlines()]
    for q, t, v in rows:
        ours = vsearch_identity(seqs[int(q[1:])], seqs[int(t[1:])])
        assert abs(100 * ours - float(v)) <= 0.15, (q, t, v, ours)


def _brute_force_greedy(seqs, ab, cut, identity_fn):
    """Reference: abundance order; each sequence joins the most identical earlier centroid >= cut."""
    order = np.lexsort((np.arange(len(seqs)), -np.asarray(ab)))
    cents, lab = [], np.full(len(seqs), -1)
    for i in order:
        ids = [identity_fn(seqs[i], seqs[c]) for c in cents]
        if ids and max(ids) >= cut:
            lab[i] = cents[int(np.argmax(ids))]
        else:
            lab[i] = i
            cents.append(i)
    return lab


@pytest.mark.parametrize("iddef", ["edit", "vsearch"])
def test_identity_clusterer_agrees_with_brute_force_greedy(iddef):
    seqs, fam, ab = _families(7, n_fam=5, per=10, length=300, rate=0.02)
    fn = {"edit": lambda a, b: 1 - __import__("edlib").align(a, b)["editDistance"] / max(len(a), len(b)),
          "vsearch": vsearch_identity}[iddef]
    ref = _brute_force_greedy(seqs, ab, 0.97, fn)
    emb = np.random.default_rng(0).normal(size=(len(seqs), 4)).astype(np.float32)  # useless embedding
    exhaustive = IdentityClusterer(iddef=iddef, prefilter="kmer", min_words=0, max_candidates=10**6,
                                   max_accepts=None, max_rejects_after_accept=None).fit(seqs, emb, abundances=ab)
    assert (exhaustive.rep_index_[exhaustive.labels_] == ref).all()
    # the run's defaults (word prefilter beside the embedding, first candidate that passes)
    vs = IdentityClusterer(iddef=iddef, prefilter="both", max_accepts=1).fit(seqs, emb, abundances=ab)
    assert clustering_metrics(ref, vs.labels_)["ari"] >= 0.95
    assert word_matrix(seqs).shape == (len(seqs), 4**8)
