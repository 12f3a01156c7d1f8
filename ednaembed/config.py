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
    map_method, n_neighbors, weighting, color_by
        Sample vectors and map (:mod:`ednaembed.map`).
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
    map_method: str = "umap"
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
