"""ednaembed: metabarcoding reads -> sequence-CNN embeddings -> MOTUs -> a 2-D sample map.

One :class:`Community` (reads, unique sequences, embeddings, MOTU assignments, the samples x
MOTUs table, sample metadata) is carried through the stages, as scanpy carries an AnnData.

Where things are
----------------
- ``ednaembed.community``: the :class:`Community` object
- ``ednaembed.stages``: the stage functions (read, get_encoder, embed, cluster, map_samples,
  assess), each taking and returning a community
- ``ednaembed.pipeline``: :func:`run`, a short function over those stages; ``ednaembed.config``:
  :class:`RunConfig`; ``ednaembed.results``: :class:`EdnaResult` and the output writers
- ``ednaembed.io``: FASTA/FASTQ(.gz), sample sheets, OTU/ASV tables, dereplication, primers
- ``ednaembed.align``: every exact alignment (edlib): identity, edit distances, primer search
- ``ednaembed.encode``: IUPAC codes, one-hot encoding, masks, reverse complement
- ``ednaembed.models``: the 1-D CNN encoder
- ``ednaembed.train``: distance-regression (+ taxonomy) training, embedding, checkpoints
- ``ednaembed.cluster``: one MOTU estimator per mode (identity, graph, density) and the MOTU table
- ``ednaembed.learned_map``: the learned sample map (the default map of a run, reproducing
  Bray-Curtis, Jaccard and a sequence-aware dissimilarity at once), its comparison with PCoA,
  NMDS and UMAP, held-out placement
- ``ednaembed.taxonomy``: lineages for sequences from a SINTAX or dada2/SILVA reference
  (embedding + k-mer candidates, alignment identity, calibrated confidence per rank); BIOM and
  phyloseq CSV writers (not yet part of a run)
- ``ednaembed.map``: sample vectors, UMAP/PCA maps, PCoA, faithfulness (Mantel, trustworthiness),
  plots
- ``ednaembed.simulate``: community simulator on bundled real 16S V4 references;
  ``ednaembed.demo``: the demo
- ``ednaembed.cli``: the ``ednaembed`` console script, over the same stage functions

Examples
--------
>>> import ednaembed
>>> sorted(ednaembed.__all__)[:3]
['Community', 'DensityClusterer', 'EdnaResult']
"""

from .cluster import (
    DensityClusterer,
    GraphClusterer,
    IdentityClusterer,
    make_clusterer,
    motu_table,
)
from .cluster import MOTUClusterer as _MOTUClusterer  # deprecated, warns when called
from .community import Community
from .config import RunConfig
from .io import dereplicate, read_otu_table, read_reads, read_sample_sheet
from .learned_map import LearnedSampleMap, compare_maps, map_faithfulness, sample_dissimilarities
from .map import SampleMap, faithfulness, pcoa_map, sample_embeddings
from .pipeline import run
from .results import EdnaResult
from .simulate import load_references, simulate_community
from .train import TrainSettings, embed_sequences, load_encoder, train_encoder

__all__ = [
    "run",
    "RunConfig",
    "EdnaResult",
    "Community",
    "read_reads",
    "read_sample_sheet",
    "read_otu_table",
    "dereplicate",
    "IdentityClusterer",
    "GraphClusterer",
    "DensityClusterer",
    "make_clusterer",
    "motu_table",
    "SampleMap",
    "LearnedSampleMap",
    "compare_maps",
    "map_faithfulness",
    "sample_dissimilarities",
    "sample_embeddings",
    "pcoa_map",
    "faithfulness",
    "simulate_community",
    "load_references",
    "TrainSettings",
    "train_encoder",
    "embed_sequences",
    "load_encoder",
]


def __getattr__(name: str):
    """``ednaembed.MOTUClusterer`` is deprecated (use the clusterer of a mode or :func:`make_clusterer`)."""
    if name == "MOTUClusterer":
        return _MOTUClusterer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
