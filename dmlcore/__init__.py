"""dmlcore: the shared metric-learning core of ecodml.

Device and seeding, losses and miners (pytorch-metric-learning), samplers, a trainer with
safetensors checkpoints, batched embedding, exact kNN, similarity graphs (networkx),
HDBSCAN clustering, UMAP maps and retrieval / clustering / open-set metrics.

Submodules: ``device``, ``errors``, ``io``, ``losses``, ``samplers``, ``train``, ``embed``,
``index``, ``graph``, ``cluster``, ``project``, ``metrics``.
"""

from .device import autocast, resolve_device, seed_everything
from .embed import embed, l2_normalize
from .errors import CheckpointError, EcodmlError, InputError, OutputExistsError
from .index import KNNIndex, knn
from .metrics import (
    clustering_metrics,
    open_set_auroc,
    open_set_metrics,
    retrieval_metrics,
)
from .train import TrainConfig, Trainer, load_checkpoint, save_checkpoint

__version__ = "0.1.0"

__all__ = [
    "autocast", "resolve_device", "seed_everything", "embed", "l2_normalize",
    "CheckpointError", "EcodmlError", "InputError", "OutputExistsError", "KNNIndex", "knn",
    "clustering_metrics", "open_set_auroc", "open_set_metrics", "retrieval_metrics",
    "TrainConfig", "Trainer", "load_checkpoint", "save_checkpoint",
]
