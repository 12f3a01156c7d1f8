"""What a run returns and writes: :class:`ReidResult`, :func:`build_result`, :func:`write_outputs`.

Examples
--------
>>> import pandas as pd
>>> r = ReidResult(*(pd.DataFrame() for _ in range(5)), report={"n_photos": 0}, config=ReidConfig())
>>> r.report["n_photos"]
0
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dmlcore.errors import Problems
from dmlcore.graph import write_graphml
from dmlcore.io import provenance, write_csv, write_json, write_text
from dmlcore.train import save_checkpoint

from .config import ReidConfig
from .features.deep import EmbeddingNet
from .inference.network import plot_network
from .photoset import PhotoSet
from .review import render_review

__all__ = ["ReidResult", "write_outputs", "build_result"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- result
@dataclass
class ReidResult:
    """What :func:`ecoreid.run` returns; every table is a pandas DataFrame (R-friendly via reticulate).

    Attributes
    ----------
    assignments : DataFrame
        One row per query photo: image, proposed_individual, score, is_new, community,
        candidate_1..5, score_1..5 (and true_individual when the truth was given).
    individuals : DataFrame
        One row per known or proposed new individual: individual_id, status, n_photos,
        n_queries, first_date, last_date.
    photos : DataFrame
        Every photo that loaded: image, individual_id, is_query, community.
    pairs : DataFrame
        Verified query-catalogue pairs with cosine, inliers, probabilities.
    problems : DataFrame
        Non-fatal problems (unreadable files, missing files, bad boxes...).
    report : dict
        Evaluation when the truth is known, calibration results, timings (``report.json``'s
        ``metrics``). ``metrics`` is a deprecated alias.
    config : ReidConfig
    graph : networkx.Graph
    out : Path or None
        Output folder when one was written.

    Examples
    --------
    >>> import pandas as pd
    >>> r = ReidResult(*(pd.DataFrame() for _ in range(5)), report={}, config=ReidConfig())
    >>> r.out is None
    True
    """

    assignments: pd.DataFrame
    individuals: pd.DataFrame
    photos: pd.DataFrame
    pairs: pd.DataFrame
    problems: pd.DataFrame
    report: dict
    config: ReidConfig
    graph: Any = None
    out: Path | None = None
    thumbnails: dict = field(default_factory=dict, repr=False)

    @property
    def metrics(self) -> dict:
        """Deprecated alias of :attr:`report` (removed in the next release)."""
        warnings.warn("ReidResult.metrics is deprecated; use ReidResult.report", DeprecationWarning, stacklevel=2)
        return self.report


def _individuals_table(photos: pd.DataFrame, labels: np.ndarray, assign: pd.DataFrame) -> pd.DataFrame:
    dates = pd.to_datetime(photos["date"], errors="coerce")
    rows = []
    lab = pd.Series(labels)
    for ind in sorted({v for v in labels if v is not None}):
        sel = (lab == ind).to_numpy()
        d = dates[sel]
        nq = int(((assign["proposed_individual"] == ind) & ~assign["is_new"]).sum())
        rows.append({"individual_id": ind, "status": "known", "n_photos": int(sel.sum()), "n_queries": nq,
                     "first_date": d.min(), "last_date": d.max()})
    img_dates = dict(zip(photos["image"], dates))
    for ind, g in assign[assign["is_new"]].groupby("proposed_individual", sort=True):
        d = pd.Series([img_dates.get(i) for i in g["image"]], dtype="datetime64[ns]")
        rows.append({"individual_id": ind, "status": "proposed_new", "n_photos": 0, "n_queries": int(len(g)),
                     "first_date": d.min(), "last_date": d.max()})
    df = pd.DataFrame(rows, columns=["individual_id", "status", "n_photos", "n_queries", "first_date", "last_date"])
    for c in ("first_date", "last_date"):
        df[c] = pd.to_datetime(df[c], errors="coerce").dt.strftime("%Y-%m-%d").fillna("")
    return df


def write_outputs(result: ReidResult, out: str | os.PathLike, *, model: EmbeddingNet | None = None,
                  progress: bool = False) -> Path:
    """Write the result's files into ``out``, each atomically.

    Files: ``assignments.csv``, ``individuals.csv``, ``photos.csv``, ``pairs.csv``,
    ``problems.csv``, ``similarity_network.graphml``, ``network.png``, ``review.html``,
    ``report.json`` (metrics, config, versions, seed) and ``model.safetensors`` + ``model.json``
    when a model was trained.

    Examples
    --------
    >>> write_outputs(ecoreid.run("photos/"), "results/")  # doctest: +SKIP
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(result.assignments, out / "assignments.csv")
    write_csv(result.individuals, out / "individuals.csv")
    write_csv(result.photos, out / "photos.csv")
    write_csv(result.pairs, out / "pairs.csv")
    write_csv(result.problems, out / "problems.csv")
    if result.graph is not None:
        write_graphml(result.graph, out / "similarity_network.graphml")
        plot_network(result.graph, out / "network.png", seed=result.config.seed)
    if model is not None:
        save_checkpoint(out / "model.safetensors", model, config=result.config.model.to_dict(),
                        model_name=model.model_name)
    html = render_review(result, network_png=out / "network.png" if (out / "network.png").exists() else None)
    write_text(html, out / "review.html")
    report = {"metrics": result.report, "config": result.config.to_dict(),
              "provenance": provenance(config=result.config.to_dict(), seed=result.config.seed),
              "files": sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
              + ["report.json"]}
    write_json(report, out / "report.json")
    result.out = out
    logger.info("results written to %s", out)
    return out


def build_result(photos: PhotoSet, *, q_mask: np.ndarray, community: np.ndarray, assign: pd.DataFrame,
                 pairs: pd.DataFrame, graph, report: dict, config: ReidConfig,
                 problems: Problems | None = None) -> ReidResult:
    """Assemble a :class:`ReidResult` from an identification's parts (photo positions in ``photos``).

    Examples
    --------
    >>> res = build_result(photos, q_mask=q, community=c, assign=a, pairs=p, graph=G,
    ...                    report={}, config=ReidConfig())  # doctest: +SKIP
    """
    table, labels = photos.table, photos.labels
    photos_out = table.assign(is_query=q_mask, community=community)
    pairs_out = pairs.rename(columns={"q_global": "query_photo", "g_global": "catalogue_photo"})
    if len(pairs_out):
        pairs_out["query_image"] = table["image"].to_numpy()[pairs_out["query_photo"].to_numpy()]
        pairs_out["catalogue_image"] = table["image"].to_numpy()[pairs_out["catalogue_photo"].to_numpy()]
        pairs_out["catalogue_individual"] = labels[pairs_out["catalogue_photo"].to_numpy()]
    problems = problems if problems is not None else Problems()
    thumbs = photos.thumbnails
    return ReidResult(
        assignments=assign.reset_index(drop=True), individuals=_individuals_table(table, labels, assign),
        photos=photos_out.reset_index(drop=True), pairs=pairs_out.reset_index(drop=True),
        problems=problems.to_frame(), report=report, config=config, graph=graph, out=None,
        thumbnails=dict(zip(table["image"], thumbs)) if len(thumbs) else {},
    )
