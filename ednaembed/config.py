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
        ``pcoa_jaccard``, ``nmds_braycurtis``, ``umap_hellinger``, ``learned``. Default: the
        first three; ``umap_hellinger`` is opt-in because UMAP compiles with numba on its first
        call in a process (about 45 s of a 60 s run on 15 MiSeq samples and 2 cores).
        ``pcoa_braycurtis`` is always computed (it is the right panel of ``sample_map.png``).
    map_epochs : int
        Training steps of the learned map.
    n_neighbors, weighting, color_by
        UMAP neighbours, sample-vector weighting (:mod:`ednaembed.map`) and the sample-sheet
        column colouring ``sample_map.png`` (also the known groups of the silhouette; without
        it a ``group`` column of the sheet is used when there is one).
    max_ee, min_length, forward_primer, reverse_primer, sample_prefix
        Reading (:mod:`ednaembed.io`, :mod:`ednaembed.reads`).
    max_length, max_ns, primer_error_rate
        More read filters: longest read kept, most ``N`` bases kept (all-N reads are always
        dropped), cutadapt's error rate for primers.
    paired, merge_min_overlap, merge_max_diffs, merge_min_length, merge_allow_stagger
        Mates recognised by name or sample sheet (``paired=False`` reads every file alone) and
        merged as ``vsearch --fastq_mergepairs`` (``--fastq_minovlen``, ``--fastq_maxdiffs``,
        ``--fastq_minmergelen``, ``--fastq_allowmergestagger``).
    permutations : int
        Mantel permutations of the faithfulness report.
    denoise : {"unoise", "none"}
        Read input: ``"unoise"`` (default) calls exact sequence variants first
        (:mod:`ednaembed.denoise`: UNOISE3 denoising, UCHIME3 chimeras, reads mapped to the
        ASVs at 97 %), then groups the ASVs into MOTUs at ``identity``; ``"none"`` clusters
        all unique sequences into MOTUs directly (the earlier path). An OTU/ASV table input
        is never denoised.
    minsize, unoise_alpha, abskew
        UNOISE3's minimum abundance (8) and skew exponent (2), UCHIME3's parent skew (16).
    denoise_pool : {"pooled", "sample"}
        Denoise all samples' reads together (default, as UNOISE3 pipelines) or each sample on its
        own (as DADA2's ``pool=FALSE``: ``minsize`` per sample; a sample's reads map only to its
        own ASVs, so cross-talk reads of another sample's variant are not counted).
    crosstalk : float
        Cross-talk (tag-jump) filter of the denoised table: an ASV's reads in a sample are
        unassigned when under this fraction of the ASV's largest count in any sample
        (:func:`ednaembed.denoise.denoise`). Default ``0.01``: on the real MiSeq SOP run it
        unassigns 58 of 67,328 reads, the leaks between the mock and the mice (BENCHMARKS.md);
        ``0`` keeps every read.
    lulu : bool
        LULU-style curation of the MOTUs by co-occurrence (off by default).
    reference : str or None
        A taxonomic reference FASTA(.gz) (SINTAX or dada2/SILVA headers): name every unit
        (:func:`ednaembed.taxonomy.unit_taxonomy`) and write ``taxonomy.csv``, ``table.biom``
        and the phyloseq CSV trio (:data:`ednaembed.taxonomy.TAXONOMY_FILES`).
    iddef, prefilter, max_accepts
        Identity mode (:class:`ednaembed.cluster.IdentityClusterer`): VSEARCH's identity
        (``"vsearch"``, ``--iddef 2``) or the edit-distance one (``"edit"``); candidate centroids
        from the embedding, VSEARCH's word filter or ``"both"``; ``max_accepts=1`` takes the
        first candidate that passes, as ``vsearch --cluster_size`` (``None``: the most identical).
        The defaults reproduce VSEARCH's partition (BioMarKs50k 18S: ``BENCHMARKS.md``).
    finetune, min_recall, finetune_seconds, recall_sample
        Whether the encoder fits the run: its candidate recall (:func:`ednaembed.cluster.candidate_recall`)
        is measured on ``recall_sample`` unique sequences; with ``finetune="auto"`` an encoder
        from a checkpoint whose recall is below ``min_recall`` is fine-tuned on the run's
        uniques by edit-distance regression for at most about ``finetune_seconds`` when the
        MOTUs depend on it alone (``prefilter="embedding"``)
        (:func:`ednaembed.train.fine_tune_encoder`); ``"always"`` fine-tunes, ``"never"`` neither
        measures nor fine-tunes. ``report.json`` records both recalls under ``model``.
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
    map_compare: tuple[str, ...] = ("pcoa_braycurtis", "pcoa_jaccard", "nmds_braycurtis")
    map_epochs: int = 300
    n_neighbors: int = 15
    weighting: str = "hellinger"
    color_by: str | None = None
    max_ee: float | None = None
    min_length: int | None = None
    forward_primer: str | None = None
    reverse_primer: str | None = None
    sample_prefix: str | None = None
    max_length: int | None = None
    max_ns: int | None = None
    primer_error_rate: float = 0.1
    paired: bool = True
    merge_min_overlap: int = 10
    merge_max_diffs: int = 10
    merge_min_length: int = 0
    merge_allow_stagger: bool = False
    permutations: int = 999
    seed: int = 0
    device: str = "auto"
    batch_size: int = 1024
    partition_size: int = 16384  # unique sequences per Dask embedding task (with a client)
    reference: str | None = None  # taxonomic reference FASTA: taxonomy.csv, table.biom, phyloseq CSVs
    denoise: str = "unoise"
    minsize: int = 8
    unoise_alpha: float = 2.0
    abskew: float = 16.0
    denoise_pool: str = "pooled"
    lulu: bool = False
    crosstalk: float = 0.01
    cluster_sample: int | None = None  # identity mode: greedy on the N most abundant uniques, assign the rest
    iddef: str = "vsearch"
    prefilter: str = "both"
    max_accepts: int | None = 1
    finetune: str = "auto"
    min_recall: float = 0.9
    finetune_seconds: float = 120.0
    recall_sample: int = 1000
