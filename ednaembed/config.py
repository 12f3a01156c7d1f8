"""The options of a run (:class:`RunConfig`), stored in ``report.json``.

Examples
--------
>>> RunConfig(identity=0.98).mode
'identity'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RunConfig"]


@dataclass
class RunConfig:
    """Options of :func:`ednaembed.run` (stored in ``report.json``).

    Attributes
    ----------
    checkpoint : str or None
        Encoder checkpoint: ``"bundled"`` (16S V4), a path, or ``None`` to train on the run's
        own unique sequences (``train_epochs``, at least 3).
    train_epochs : int
        Train (or fine-tune the checkpoint) for this many epochs on the run's sequences.
    mode, identity, k, min_cluster_size, cluster_sample
        MOTU clustering (:func:`ednaembed.cluster.make_clusterer`; ``cluster_sample`` is the
        identity clusterer's ``sample_size``).
    map_method : {"learned", "umap", "pca"}
        The 2-D sample map. ``"learned"`` (default): :class:`ednaembed.learned_map.LearnedSampleMap`
        fitted to the run's MOTU table and the embeddings of the MOTU representatives, trained
        to reproduce Bray-Curtis, Jaccard and a sequence-aware dissimilarity at once;
        ``"umap"`` / ``"pca"``: :class:`ednaembed.map.SampleMap` of the pooled sample vectors.
    map_compare : sequence of str
        The maps the faithfulness report (``report["map"]``, ``map_faithfulness.csv``) sets
        beside the run's map, on the same dissimilarities: some of ``pcoa_braycurtis``,
        ``pcoa_jaccard``, ``nmds_braycurtis``, ``umap_hellinger`` (UMAP compiles with numba on
        its first call in a process: drop it to save time), ``learned``. ``pcoa_braycurtis``
        is always computed (it is the right panel of ``sample_map.png``).
    map_epochs : int
        Training steps of the learned map.
    n_neighbors, weighting, color_by
        UMAP neighbours, sample-vector weighting (:mod:`ednaembed.map`) and the sample-sheet
        column colouring ``sample_map.png`` (also the known groups of the silhouette; without
        it a ``group`` column of the sheet is used when there is one).
    max_ee, min_length, forward_primer, reverse_primer, sample_prefix
        Reading (:mod:`ednaembed.io`).
    permutations : int
        Mantel permutations of the faithfulness report.
    seed, device, batch_size, partition_size
        Reproducibility and resources (``partition_size``: unique sequences per Dask embedding task).

    Examples
    --------
    >>> RunConfig().checkpoint
    'bundled'
    """

    checkpoint: str | None = "bundled"
    train_epochs: int = 0
    mode: str = "identity"
    identity: float = 0.97
    k: int = 8
    min_cluster_size: int = 3
    map_method: str = "learned"
    map_compare: tuple[str, ...] = ("pcoa_braycurtis", "pcoa_jaccard", "nmds_braycurtis", "umap_hellinger")
    map_epochs: int = 300
    n_neighbors: int = 15
    weighting: str = "hellinger"
    color_by: str | None = None
    max_ee: float | None = None
    min_length: int | None = None
    forward_primer: str | None = None
    reverse_primer: str | None = None
    sample_prefix: str | None = None
    permutations: int = 999
    seed: int = 0
    device: str = "auto"
    batch_size: int = 1024
    partition_size: int = 16384  # unique sequences per Dask embedding task (with a client)
    cluster_sample: int | None = None  # identity mode: greedy on the N most abundant uniques, assign the rest
