"""The photo-ID pipeline: photos -> embeddings -> verified, calibrated matches -> individuals.

:func:`run` is the whole pipeline in a few named stages::

    table = photo_table(images, catalog=catalog)          # files -> validated table
    catalogue = Catalogue(config).load_model()             # a checkpoint's image size known first
    photos = read_photos(table, image_size=...)            # each photo decoded once: crop, SIFT
    catalogue.fit(photos)                                  # train/load model, embed, VLAD, calibrate
    result = catalogue.identify(truth=truth)               # top-5 candidates, is_new, network
    write_outputs(result, out)                             # CSV, GraphML, PNG, HTML, JSON

Labelled photos (with an individual_id) form the catalogue (gallery and training data);
photos without one are the queries.

Examples
--------
>>> import ecoreid  # doctest: +SKIP
>>> res = ecoreid.run("photos/", catalog="photos/catalog.csv", out="results/")  # doctest: +SKIP
>>> res.assignments.head()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging
import os

import pandas as pd

from dmlcore.device import seed_everything
from dmlcore.distributed import compute_info, get_client
from dmlcore.errors import InputError, Problems
from dmlcore.io import prepare_output_dir
from dmlcore.outputs import writes_output_folder
from dmlcore.rtables import r_friendly_fields
from dmlcore.runs import Stages, resolve_config

from ._deprecated import warn_moved
from .catalogue import Catalogue
from .config import ReidConfig
from .data.catalogue import photo_table
from .data.detections import DEFAULT_MIN_DETECTION_CONF
from .photoset import read_photos
from .results import ReidResult, write_outputs
from .similarity.calibration import SCORE_MODES

__all__ = ["run"]

logger = logging.getLogger(__name__)

#: names that lived here before the restructuring -> their module now (import them from there)
_MOVED = {"ReidConfig": "ecoreid.config", "ReidResult": "ecoreid.results", "write_outputs": "ecoreid.results",
          "PhotoData": "ecoreid.photoset:PhotoSet", "prepare_photos": "ecoreid.photoset:read_photos",
          "model_from_config": "ecoreid.features.deep", "PairCache": "ecoreid.similarity.verification",
          "calibrate": "ecoreid.inference.thresholds", "choose_score_mode": "ecoreid.inference.thresholds",
          "_open_set_margin": "ecoreid.inference.thresholds", "identify_queries": "ecoreid.inference.ranking",
          "evaluate": "ecoreid.inference.evaluation", "TOP": "ecoreid.inference.ranking"}


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module 'ecoreid.pipeline' has no attribute {name!r}")
    mod, _, new = _MOVED[name].partition(":")
    warn_moved(f"ecoreid.pipeline.{name}", f"{mod}.{new or name}")
    return getattr(importlib.import_module(mod), new or name)


@writes_output_folder  # out: checked and locked first, written privately, swapped in whole at the end
def run(
    images: str | os.PathLike | None = None,
    *,
    catalog: str | os.PathLike | pd.DataFrame | None = None,
    truth: str | os.PathLike | pd.DataFrame | None = None,
    out: str | os.PathLike | None = None,
    config: ReidConfig | dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
    client=None,
    checkpoint: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    device: str = "auto",
    thumbnails: bool | None = None,
    detections: str | os.PathLike | pd.DataFrame | None = None,
    min_detection_conf: float = DEFAULT_MIN_DETECTION_CONF,
    **options,
) -> ReidResult:
    """Re-identify individuals in a folder of photos against a catalogue.

    Parameters
    ----------
    images : path-like, optional
        Folder of photos; those not in the catalogue are queries.
    catalog : path-like or DataFrame, optional
        Catalogue CSV (or Camtrap DP package folder); labelled rows are the known catalogue.
    truth : path-like or DataFrame, optional
        image -> individual_id of the queries, to evaluate (top-1, top-5, mAP, BAKS, BAUS, ARI).
    out : path-like, optional
        Output folder (assignments.csv, individuals.csv, similarity_network.graphml,
        network.png, review.html, report.json, problems.csv); refused if it exists and is
        not empty unless ``overwrite``. Written as a transaction (:mod:`dmlcore.outputs`): locked,
        written into a private temporary folder and moved into place at the end.
    config : ReidConfig or dict, optional
        Pipeline options; a dict (e.g. an R list) is read with :meth:`ReidConfig.from_dict`.
    overwrite : bool
        Replace an earlier output folder in ``out``, whole.
    progress : bool
        Progress bars.
    client : dask.distributed.Client or scheduler address, optional
        Read photos (decode, crop, SIFT, thumbnails) and embed them (CNN, VLAD) in batches on
        the Dask workers; training, calibration, verification and the network stay here.
        The result equals the single-process one.
    checkpoint : path-like, optional
        A trained ecoreid checkpoint (``.safetensors``); skips training.
    weights : path-like, optional
        Local pretrained backbone weights to start from.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    thumbnails : bool, optional
        Keep thumbnails for the review page (default: when ``out`` is given).
    detections : path-like or DataFrame, optional
        MegaDetector batch-output JSON (paths relative to ``images``): photos without a catalogue
        box are cropped to their most confident animal box (:mod:`ecoreid.data.detections`).
    min_detection_conf : float
        Animal detections below this confidence are ignored (default 0.2).
    **options
        :class:`ReidConfig` fields overriding ``config`` (e.g. ``shortlist_k=40``).

    Returns
    -------
    ReidResult
        ``.report`` holds the evaluation, calibration and ``timings`` (also ``report.json``).

    Examples
    --------
    >>> from ecoreid.datasets import SynthConfig, generate_dataset  # doctest: +SKIP
    >>> ds = generate_dataset("data", config=SynthConfig(n_individuals=10))  # doctest: +SKIP
    >>> res = run(ds.images_dir, catalog=ds.catalog_path, truth=ds.root / "truth.csv")  # doctest: +SKIP
    >>> res.report["evaluation"]["top1"]  # doctest: +SKIP
    """
    cfg = resolve_config(ReidConfig, config, options)
    if cfg.score_mode not in ("auto",) + SCORE_MODES:
        raise InputError("unknown score mode", field="score_mode", value=cfg.score_mode,
                         expected=f"one of {('auto',) + SCORE_MODES}")
    client = get_client(client)
    stages = Stages(logger)
    out_dir = prepare_output_dir(out, overwrite=overwrite) if out is not None else None
    seed_everything(cfg.seed)
    problems = Problems(logger=logger)
    catalogue = Catalogue(cfg, checkpoint=checkpoint, weights=weights, device=device, progress=progress,
                          client=client, checkpoint_dir=None if out_dir is None else out_dir / "checkpoints")
    with stages("read_photos"):
        table = photo_table(images, catalog=catalog, problems=problems, detections=detections,
                            min_detection_conf=min_detection_conf)
        cfg = catalogue.load_model().config_  # a checkpoint's image size is known before decoding
        photos = read_photos(table, image_size=cfg.model.image_size, matcher=cfg.matcher(),
                             thumbnails=out_dir is not None if thumbnails is None else thumbnails,
                             problems=problems, progress=progress, client=client, batch_size=cfg.dask_batch_size)
        if len(photos) == 0:
            raise InputError("no photo could be read", path=images or catalog)
    catalogue.fit(photos, stages=stages)
    result = catalogue.identify(truth=truth, problems=problems, stages=stages)
    result.report = {"model": result.report.pop("model"), "compute": compute_info(client), **result.report}
    result.report["timings"] = {**stages.timings, "total": round(stages.total, 3)}
    if out_dir is not None:
        write_outputs(result, out_dir, model=catalogue.model_ if catalogue.model_origin_ == "trained" else None,
                      progress=progress)
    return r_friendly_fields(result)  # from R: tables in dtypes reticulate 1.28 converts (dmlcore.rtables)
