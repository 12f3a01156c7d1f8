"""Exact sequence variants (ASVs): UNOISE3-style denoising, UCHIME3-style chimeras, reads mapped to ASVs.

The same shape as the MOTU step: the learned embedding proposes each sequence's candidate
parents (kNN on the embeddings of the unique sequences, plus a cheap 8-mer check), and exact
alignment (edlib) judges. Then MOTUs group the ASVs at an identity cut-off
(:func:`cluster_asvs`), optionally curated LULU-style by co-occurrence (:func:`lulu`).

- :class:`UnoiseDenoiser`: abundance skew ``1 / 2**(alpha d + 1)``, ``minsize`` (UNOISE3);
- :class:`ChimeraDetector`: perfect two-parent models from parents ``abskew`` times more abundant (UCHIME3);
- :func:`map_to_asvs`: each unique sequence to its most identical ASV at >= 97 % (``--usearch_global``);
- :func:`denoise` and :func:`cluster_asvs`: the stages :func:`ednaembed.run` calls;
- :func:`candidate_recall`: the candidates against exhaustive alignment.

Examples
--------
>>> import numpy as np
>>> seqs = ["ACGTACGTACGTACGTACGT", "ACGTACGTACGAACGTACGT"]
>>> UnoiseDenoiser(minsize=2).fit(seqs, np.ones((2, 2), np.float32), abundances=[100, 5]).asv_index_.tolist()
[0]
"""

from ._candidates import embedding_neighbours, kmer_profiles, kmer_top
from ._chimera import ChimeraDetector, error_profile
from ._lulu import lulu
from ._map import map_to_asvs
from ._stage import candidate_recall, cluster_asvs, denoise
from ._unoise import UnoiseDenoiser

__all__ = ["ChimeraDetector", "UnoiseDenoiser", "candidate_recall", "cluster_asvs", "denoise", "embedding_neighbours",
           "error_profile", "kmer_profiles", "kmer_top", "lulu", "map_to_asvs"]
