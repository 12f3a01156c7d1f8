"""Demo: simulate a metabarcoding run from the bundled real 16S V4 references and run the pipeline.

``python -m ednaembed.demo --out DIR`` writes

- ``DIR/input/``: one gzip FASTQ per sample and ``samples.csv`` (the simulated run),
- ``DIR/results/``: the pipeline outputs (``motu_table.csv``, ``motus.fasta``,
  ``read_assignments.parquet``, ``sample_embeddings.parquet``, ``sample_map.csv``,
  ``sample_map.png`` (the learned map beside PCoA of Bray-Curtis), ``map_faithfulness.csv``,
  ``report.json``),
- ``DIR/truth.json``: MOTUs scored against the simulator's truth (ARI/AMI vs the true
  reference and genus of each unique sequence).

It takes about a minute on 2 CPU cores (plus UMAP's one-off numba compilation when
``NUMBA_CACHE_DIR`` is empty).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from dmlcore.errors import EcodmlError
from dmlcore.io import prepare_output_dir, write_json
from dmlcore.metrics import clustering_metrics

from .pipeline import run
from .simulate import simulate_community, write_sample_files

__all__ = ["main", "run_demo"]

log = logging.getLogger("ednaembed.demo")  # not __name__: run as ``python -m``, that is "__main__"


def run_demo(out: str | Path, *, n_samples: int = 24, reads_per_sample: int = 1500, seed: int = 0,
             overwrite: bool = False, progress: bool = True, map_method: str = "learned") -> dict:
    """Simulate, run, score; returns the truth metrics (also written to ``out/truth.json``).

    Examples
    --------
    >>> metrics = run_demo("demo_output/ednaembed", overwrite=True)   # doctest: +SKIP
    >>> metrics["motus_vs_reference"]["ari"]                         # doctest: +SKIP
    """
    out = prepare_output_dir(out, overwrite=overwrite)
    t0 = time.perf_counter()
    sim = simulate_community(n_samples=n_samples, n_habitats=3, reads_per_sample=reads_per_sample,
                             chimera_rate=0.01, seed=seed)
    files, sheet = write_sample_files(sim, out / "input", seed=seed)
    log.info("simulated %d samples x %d reads into %s", n_samples, reads_per_sample, out / "input")
    res = run(files, samples=sheet, out=out / "results", overwrite=True, progress=progress, max_ee=2.0,
              color_by="habitat", seed=seed, map_method=map_method)
    truth = sim.truth()
    a = res.read_assignments.merge(truth, on="sequence", how="inner")
    a = a[a["motu_id"].notna() & ~a["is_chimera"]]
    m_ref = clustering_metrics(a["ref_id"].tolist(), a["motu_id"].astype(str).tolist())
    m_gen = clustering_metrics(a["genus"].tolist(), a["motu_id"].astype(str).tolist())
    f = res.report["faithfulness"].get("map", {})
    metrics = {
        "n_unique_scored": int(len(a)),
        "n_true_taxa": int(sim.references.shape[0]),
        "n_motus": int(len(res.motus)),
        "motus_vs_reference": m_ref,
        "motus_vs_genus": m_gen,
        "map_mantel_braycurtis_r": f.get("mantel_braycurtis", {}).get("r"),
        "map_trustworthiness": f.get("trustworthiness_embedding"),
        "map_most_faithful": res.report["map"].get("most_faithful"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json(metrics, out / "truth.json")
    return metrics


def main(argv: list[str] | None = None) -> int:
    """``python -m ednaembed.demo --out DIR [--overwrite] [--quiet]``.

    Examples
    --------
    >>> main(["--out", "demo_output/ednaembed", "--overwrite"])       # doctest: +SKIP
    0
    """
    ap = argparse.ArgumentParser(prog="python -m ednaembed.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_output/ednaembed")
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--reads-per-sample", type=int, default=1500)
    ap.add_argument("--map-method", choices=["learned", "umap", "pca"], default="learned")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if a.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        m = run_demo(a.out, n_samples=a.samples, reads_per_sample=a.reads_per_sample, seed=a.seed,
                     overwrite=a.overwrite, progress=not a.quiet, map_method=a.map_method)
    except EcodmlError as exc:
        log.error("%s", exc)
        return 2
    out = Path(a.out).resolve()
    print(f"ednaembed demo: {m['n_motus']} MOTUs for {m['n_true_taxa']} true taxa "
          f"(ARI vs reference {m['motus_vs_reference']['ari']:.3f}, vs genus {m['motus_vs_genus']['ari']:.3f}); "
          f"map Mantel r (Bray-Curtis) {m['map_mantel_braycurtis_r']:.3f}; {m['seconds']} s")
    print(f"results: {out / 'results'} (sample_map.png, motu_table.csv, report.json); truth: {out / 'truth.json'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
