"""ednaembed: metabarcoding reads -> sequence-CNN embeddings -> MOTUs -> a 2-D sample map.

Where things are
----------------
- ``ednaembed.io``: FASTA/FASTQ(.gz), sample sheets, OTU/ASV tables, dereplication, primers
- ``ednaembed.encode``: one-hot / IUPAC encoding, masks, reverse complement
- ``ednaembed.models``: the 1-D CNN encoder
- ``ednaembed.train``: distance-regression (+ taxonomy) training, embedding, checkpoints
- ``ednaembed.cluster``: MOTUs (embedding kNN + edlib verification, or HDBSCAN)
- ``ednaembed.map``: sample vectors, 2-D maps, PCoA, faithfulness (Mantel, trustworthiness)
- ``ednaembed.simulate``: community simulator on bundled real 16S V4 references
- ``ednaembed.run``: the whole pipeline; ``ednaembed`` console script (``ednaembed.cli``)

Examples
--------
>>> import ednaembed
>>> sorted(ednaembed.__all__)[:3]
['EdnaResult', 'MOTUClusterer', 'RunConfig']
"""

from .cluster import MOTUClusterer, motu_table
from .io import dereplicate, read_otu_table, read_reads, read_sample_sheet
from .map import SampleMap, faithfulness, pcoa_map, sample_embeddings
from .pipeline import EdnaResult, RunConfig, run
from .simulate import load_references, simulate_community
from .train import TrainSettings, embed_sequences, load_encoder, train_encoder

__all__ = [
    "run",
    "RunConfig",
    "EdnaResult",
    "read_reads",
    "read_sample_sheet",
    "read_otu_table",
    "dereplicate",
    "MOTUClusterer",
    "motu_table",
    "SampleMap",
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
