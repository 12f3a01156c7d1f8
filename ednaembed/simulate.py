"""A metabarcoding community simulator with known truth, built on real 16S V4 references.

Each reference amplicon (bundled: :func:`load_references`) is one true taxon. Samples belong
to habitat groups or sit along an environmental gradient; each taxon has a habitat preference
(groups) or a Gaussian response around an optimum (gradient) and a log-normal base abundance,
so communities are uneven and structured. Reads are drawn from the multinomial composition
and get Illumina-like errors: substitutions whose rate rises towards the 3' end, rare
insertions and deletions, Phred qualities that reflect them; optional PCR chimeras join two
parents at a random breakpoint.

Examples
--------
>>> sim = simulate_community(n_samples=4, reads_per_sample=50, n_taxa=20, seed=1)
>>> sorted(sim.samples.columns)
['gradient', 'habitat', 'sample_id']
>>> int(sim.reads.groupby("sample_id")["count"].sum().iloc[0])
50
"""

from __future__ import annotations

import gzip
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from dmlcore.io import atomic_write, write_csv

from .io import clean_sequence, iter_records

__all__ = ["load_references", "bundled_references_path", "SimulatedCommunity", "simulate_community", "mutate", "write_sample_files"]

log = logging.getLogger(__name__)
RANKS = ["domain", "phylum", "class", "order", "family", "genus"]


def bundled_references_path() -> Path:
    """Path of the bundled V4 references (``ednaembed/data/v4_refs.fasta.gz``).

    Examples
    --------
    >>> bundled_references_path().name
    'v4_refs.fasta.gz'
    """
    return Path(str(resources.files("ednaembed") / "data" / "v4_refs.fasta.gz"))


def load_references(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read references with ``tax=d:...,g:...`` headers into a DataFrame.

    Parameters
    ----------
    path : path-like, optional
        FASTA (gzip or not); default the bundled V4 amplicons.

    Returns
    -------
    DataFrame
        ``ref_id``, ``sequence`` and one column per rank (``domain`` ... ``genus``; empty
        string when the header lacks it).

    Examples
    --------
    >>> refs = load_references()
    >>> list(refs.columns[:2]), len(refs) > 100
    (['ref_id', 'sequence'], True)
    """
    path = Path(path) if path is not None else bundled_references_path()
    rows = []
    keys = dict(zip("dpcofg", RANKS))
    for rec in iter_records(path):
        head = rec.title.split()[0]
        rid = head.split(";")[0]
        tax = {r: "" for r in RANKS}
        if "tax=" in head:
            for part in head.split("tax=", 1)[1].rstrip(";").split(";")[0].split(","):
                if ":" in part:
                    k, v = part.split(":", 1)
                    if k in keys:
                        tax[keys[k]] = v
        rows.append({"ref_id": rid, "sequence": clean_sequence(rec.sequence, path=path, line=rec.line), **tax})
    return pd.DataFrame(rows)


def mutate(seq: str, rng: np.random.Generator, *, sub_rate: float = 0.002, indel_rate: float = 0.0002,
           tail_factor: float = 3.0) -> tuple[str, np.ndarray]:
    """Apply Illumina-like errors to one read.

    Substitution probability rises linearly from ``sub_rate`` at the 5' end to
    ``sub_rate * tail_factor`` at the 3' end; insertions and deletions have ``indel_rate``
    per base. Returns the new read and a boolean array marking erroneous positions.

    Examples
    --------
    >>> read, errors = mutate("ACGT" * 5, np.random.default_rng(0), sub_rate=0.0)
    >>> read, int(errors.sum())
    ('ACGTACGTACGTACGTACGT', 0)
    """
    n = len(seq)
    p = sub_rate * (1.0 + (tail_factor - 1.0) * np.arange(n) / max(n - 1, 1))
    sub = rng.random(n) < p
    ind = rng.random(n) < indel_rate
    if not sub.any() and not ind.any():
        return seq, np.zeros(n, dtype=bool)
    out, err = [], []
    bases = "ACGT"
    for i, c in enumerate(seq):
        if ind[i]:
            if rng.random() < 0.5:  # deletion
                continue
            out.append(bases[rng.integers(4)])
            err.append(True)
        if sub[i]:
            out.append(bases[(bases.find(c) + 1 + rng.integers(3)) % 4] if c in bases else bases[rng.integers(4)])
            err.append(True)
        else:
            out.append(c)
            err.append(False)
    return "".join(out), np.array(err, dtype=bool)


@dataclass
class SimulatedCommunity:
    """What :func:`simulate_community` returns (all fields are DataFrames).

    Attributes
    ----------
    reads : DataFrame
        Long count table ``sample_id, sequence, count, ref_id, is_chimera`` (one row per
        distinct read per sample and origin).
    samples : DataFrame
        Sample sheet ``sample_id, habitat, gradient``.
    references : DataFrame
        The true taxa used (``ref_id, sequence, domain..genus``).
    composition : DataFrame
        True samples x taxa relative abundances.

    Examples
    --------
    >>> sim = simulate_community(n_samples=3, reads_per_sample=20, n_taxa=10, seed=0)
    >>> sorted(sim.truth().columns)[:3]
    ['family', 'genus', 'is_chimera']
    """

    reads: pd.DataFrame
    samples: pd.DataFrame
    references: pd.DataFrame
    composition: pd.DataFrame

    def truth(self) -> pd.DataFrame:
        """True origin of each unique sequence: ``sequence, ref_id, genus, is_chimera`` (majority origin).

        Examples
        --------
        >>> sim = simulate_community(n_samples=3, reads_per_sample=20, n_taxa=10, seed=0)
        >>> "ref_id" in sim.truth().columns
        True
        """
        r = self.reads.groupby(["sequence", "ref_id", "is_chimera"], as_index=False)["count"].sum()
        r = r.sort_values("count", ascending=False).drop_duplicates("sequence")
        r = r.merge(self.references[["ref_id", "genus", "family"]], on="ref_id", how="left")
        return r[["sequence", "ref_id", "genus", "family", "is_chimera"]].reset_index(drop=True)


def simulate_community(
    *,
    references: pd.DataFrame | None = None,
    n_samples: int = 24,
    n_habitats: int = 3,
    design: str = "groups",
    reads_per_sample: int = 2000,
    n_taxa: int | None = None,
    taxa_per_sample: float = 0.5,
    sub_rate: float = 0.002,
    indel_rate: float = 0.0002,
    chimera_rate: float = 0.0,
    abundance_sigma: float = 1.5,
    seed: int = 0,
) -> SimulatedCommunity:
    """Simulate a metabarcoding run with known truth.

    Parameters
    ----------
    references : DataFrame, optional
        From :func:`load_references`; default the bundled V4 amplicons.
    n_samples : int
        Number of samples.
    n_habitats : int
        Habitat groups (``design="groups"``), or bins of the gradient used as the ``habitat``
        label (``design="gradient"``).
    design : {"groups", "gradient"}
        Discrete habitats with distinct preferred taxa, or Gaussian responses along a gradient.
    reads_per_sample : int
        Reads drawn per sample.
    n_taxa : int, optional
        Use a random subset of this many references (default all).
    taxa_per_sample : float
        In ``groups``: share of taxa preferred by each habitat (others are 50x rarer).
    sub_rate, indel_rate : float
        Error rates per base (see :func:`mutate`).
    chimera_rate : float
        Share of reads that are two-parent chimeras.
    abundance_sigma : float
        Log-normal sigma of base abundances (unevenness).
    seed : int
        Everything random derives from this.

    Returns
    -------
    SimulatedCommunity

    Examples
    --------
    >>> sim = simulate_community(n_samples=3, reads_per_sample=20, n_taxa=10, seed=0)
    >>> sim.samples["sample_id"].tolist()
    ['S001', 'S002', 'S003']
    """
    if design not in ("groups", "gradient"):
        raise ValueError(f"design must be 'groups' or 'gradient', got {design!r}")
    rng = np.random.default_rng(seed)
    refs = load_references() if references is None else references.reset_index(drop=True)
    if n_taxa is not None and n_taxa < len(refs):
        refs = refs.iloc[np.sort(rng.choice(len(refs), n_taxa, replace=False))].reset_index(drop=True)
    T = len(refs)
    base = rng.lognormal(0.0, abundance_sigma, T)
    ids = [f"S{i + 1:03d}" for i in range(n_samples)]
    if design == "groups":
        hab = np.arange(n_samples) % n_habitats
        grad = (hab + rng.random(n_samples) * 0.5) / n_habitats
        pref = rng.random((n_habitats, T)) < taxa_per_sample
        aff = np.where(pref, 1.0, 0.02)[hab]
    else:
        grad = np.sort(rng.random(n_samples))
        hab = np.minimum((grad * n_habitats).astype(int), n_habitats - 1)
        opt = rng.random(T)
        width = 0.1 + 0.2 * rng.random(T)
        aff = np.exp(-0.5 * ((grad[:, None] - opt[None, :]) / width[None, :]) ** 2) + 1e-3
    comp = base[None, :] * aff * rng.lognormal(0, 0.3, (n_samples, T))
    comp = comp / comp.sum(1, keepdims=True)
    rows = []
    seqs = refs["sequence"].tolist()
    rids = refs["ref_id"].tolist()
    for s in range(n_samples):
        counts = rng.multinomial(reads_per_sample, comp[s])
        for t in np.flatnonzero(counts):
            for _ in range(int(counts[t])):
                if chimera_rate > 0 and rng.random() < chimera_rate:
                    other = int(rng.choice(T, p=comp[s]))
                    a, b = seqs[t], seqs[other]
                    bp = int(len(a) * rng.uniform(0.3, 0.7))
                    src, chim = a[:bp] + b[bp:], other != t
                else:
                    src, chim = seqs[t], False
                r, _ = mutate(src, rng, sub_rate=sub_rate, indel_rate=indel_rate)
                rows.append((ids[s], r, rids[t], chim))
    reads = pd.DataFrame(rows, columns=["sample_id", "sequence", "ref_id", "is_chimera"])
    reads = reads.groupby(["sample_id", "sequence", "ref_id", "is_chimera"], as_index=False, sort=False).size()
    reads = reads.rename(columns={"size": "count"})
    reads["count"] = reads["count"].astype("int64")
    samples = pd.DataFrame({"sample_id": ids, "habitat": [f"habitat_{h + 1}" for h in hab], "gradient": np.round(grad, 4)})
    composition = pd.DataFrame(comp, index=pd.Index(ids, name="sample_id"), columns=rids)
    return SimulatedCommunity(reads=reads, samples=samples, references=refs, composition=composition)


def write_sample_files(
    sim: SimulatedCommunity, out_dir: str | os.PathLike, *, fmt: str = "fastq", seed: int = 0
) -> tuple[list[Path], Path]:
    """Write one gzip FASTQ (or FASTA with ``;size=``) per sample and a ``samples.csv`` sheet.

    FASTQ qualities are Phred+33: 35-38 on correct bases with a 3' decline, about 12 where the
    base differs from its reference at the same position (a rough but honest signal for
    ``max_ee`` filtering).

    Returns
    -------
    (list of Path, Path)
        The read files and the sample sheet (which has a ``file`` column).

    Examples
    --------
    >>> import tempfile
    >>> sim = simulate_community(n_samples=3, reads_per_sample=20, n_taxa=10, seed=0)
    >>> files, sheet = write_sample_files(sim, tempfile.mkdtemp())
    >>> [f.name for f in files][:1], sheet.name
    (['S001.fastq.gz'], 'samples.csv')
    """
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ref_seq = dict(zip(sim.references["ref_id"], sim.references["sequence"]))
    files = []
    for sid, grp in sim.reads.groupby("sample_id", sort=True):
        path = out / f"{sid}.{'fastq' if fmt == 'fastq' else 'fasta'}.gz"
        with atomic_write(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            k = 0
            for seq, rid, c in zip(grp["sequence"], grp["ref_id"], grp["count"]):
                if fmt == "fastq":
                    ref = ref_seq[rid]
                    n = len(seq)
                    q = np.clip(38 - (np.arange(n) * 6 // max(n, 1)) - rng.integers(0, 3, n), 2, 41)
                    m = min(n, len(ref))
                    diff = np.frombuffer(seq[:m].encode(), np.uint8) != np.frombuffer(ref[:m].encode(), np.uint8)
                    q[:m][diff] = 12
                    qual = (q + 33).astype(np.uint8).tobytes().decode()
                    for _ in range(int(c)):
                        gz.write(f"@{sid}_{k}\n{seq}\n+\n{qual}\n".encode())
                        k += 1
                else:
                    gz.write(f">{sid}_{k};size={int(c)}\n{seq}\n".encode())
                    k += 1
        files.append(path)
    sheet = sim.samples.assign(file=[f"{s}.{'fastq' if fmt == 'fastq' else 'fasta'}.gz" for s in sim.samples["sample_id"]])
    sheet_path = write_csv(sheet, out / "samples.csv")
    return files, sheet_path
