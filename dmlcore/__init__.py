"""dmlcore: the shared metric-learning core of ecodml.

Device and seeding, losses and miners (pytorch-metric-learning), samplers, a trainer with
safetensors checkpoints, batched embedding, exact kNN, similarity graphs (networkx),
HDBSCAN clustering, UMAP maps and retrieval / clustering / open-set metrics.

Where things are
----------------
- ``dmlcore.device``: device choice (``"auto"``: CUDA, MPS, CPU), autocast, seeding.
- ``dmlcore.errors``: the one error family (``InputError``...) and problem record (``Problem``,
  ``Problems``) of every reader; ``check_table`` validates a table against ``data_schemas``.
- ``dmlcore.runs``: what every pipeline run shares (``resolve_config``, ``Stages``).
- ``dmlcore.io``: atomic writes, output folders, provenance.
- ``dmlcore.losses``, ``dmlcore.samplers``, ``dmlcore.train``: metric-learning training with
  safetensors + JSON checkpoints; ``dmlcore.embed``: batched inference.
- ``dmlcore.index`` (exact kNN), ``dmlcore.graph`` (similarity graphs, communities),
  ``dmlcore.cluster`` (HDBSCAN), ``dmlcore.project`` (UMAP), ``dmlcore.metrics``.
- ``dmlcore.distributed``: the same work on a Dask cluster.

dmlcore imports ``data_schemas`` and no other package of ours.
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
    "check_table", "resolve_config", "Stages", "KNNIndex", "knn",
    "clustering_metrics", "open_set_auroc", "open_set_metrics", "retrieval_metrics",
    "TrainConfig", "Trainer", "load_checkpoint", "save_checkpoint",
]
