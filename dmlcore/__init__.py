"""dmlcore: the shared metric-learning core of ecodml.

Device and seeding, losses and miners (pytorch-metric-learning), samplers, a trainer with
safetensors checkpoints, batched embedding, exact kNN, similarity graphs (networkx),
HDBSCAN clustering, UMAP maps and retrieval / clustering / open-set metrics.

What lives where:

- ``device``: device choice, bf16 autocast, seeding. ``errors``: the one problem record and
  error family (``Problem``, ``Problems``, ``InputError``, ``SchemaError``, ``check_table``).
  ``io``: atomic writers, output folders, provenance. ``outputs``: every ``--out`` as a
  transaction (checked before work, locked, written privately, swapped in whole); ``cli``: the
  command lines' one-line errors, exit statuses and ``--debug``. ``runs``: run options
  (``resolve_config``) and stage timings (``Stages``) shared by the pipelines.
- ``losses``, ``samplers``, ``train`` (``Trainer``, checkpoints), ``embed``: learning and
  using an embedding.
- ``index`` (exact kNN), ``graph`` (similarity networks, communities), ``cluster`` (HDBSCAN),
  ``project`` (UMAP maps), ``metrics``: working with the embeddings.
- ``distributed``: the same stages on a Dask cluster; ``demo``: zero-shot retrieval of
  handwritten digits (``python -m dmlcore.demo``).

dmlcore imports no other ecodml package but ``data_schemas``.
"""

from .device import autocast, resolve_device, seed_everything
from .embed import embed, l2_normalize
from .errors import (
    CheckpointError,
    EcodmlError,
    InputError,
    OutputExistsError,
    Problem,
    Problems,
    SchemaError,
    check_table,
)
from .index import KNNIndex, knn
from .metrics import (
    clustering_metrics,
    open_set_auroc,
    open_set_metrics,
    retrieval_metrics,
)
from .runs import Stages, resolve_config
from .train import TrainConfig, Trainer, load_checkpoint, save_checkpoint

__version__ = "0.1.0"

__all__ = [
    "autocast", "resolve_device", "seed_everything", "embed", "l2_normalize",
    "CheckpointError", "EcodmlError", "InputError", "OutputExistsError", "SchemaError", "Problem", "Problems",
    "check_table", "KNNIndex", "knn",
    "clustering_metrics", "open_set_auroc", "open_set_metrics", "retrieval_metrics",
    "resolve_config", "Stages",
    "TrainConfig", "Trainer", "load_checkpoint", "save_checkpoint",
]
