"""Which files are one sample: paired-read discovery from file names or sample-sheet columns.

Recognised mate names (case-insensitive extensions ``.fastq``/``.fq``, optionally ``.gz``):

- Illumina: ``<sample>_S<n>_L<lane>_R1_001.fastq.gz`` / ``..._R2_001...``;
- ``<sample>_R1.fastq(.gz)`` / ``<sample>_R2...`` (also ``.R1``/``-R1``);
- ``<sample>_1.fastq(.gz)`` / ``<sample>_2...``.

A sample sheet with ``file_R1``/``file_R2`` columns (paths relative to the sheet's folder, or
base names) maps files to samples instead; a ``file`` column maps unpaired files. A read pair is
one sample, never two. Several pairs of one sample in one folder (lanes) are read together; the
same file given twice, or files of one sample name in different folders, are refused naming both.
Sample names are Unicode-normalised (NFC), so macOS NFD file names match NFC sample ids.

Examples
--------
>>> mate_key("F3D0_S188_L001_R1_001.fastq.gz")
('F3D0', 'L001', 1)
>>> mate_key("soil-3_R2.fq")
('soil-3', '', 2)
>>> mate_key("S1.fasta") is None
True
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from dmlcore.errors import InputError

__all__ = ["ReadInput", "mate_key", "sample_from_filename", "find_inputs", "nfc"]

_EXT = r"\.(?:fastq|fq)(?:\.gz|\.bz2|\.xz|\.zst)?$"
_PATTERNS = (
    re.compile(r"^(?P<sample>.+?)_S\d+_(?P<lane>L\d+)_R(?P<mate>[12])_\d+" + _EXT, re.IGNORECASE),
    re.compile(r"^(?P<sample>.+?)(?:_(?P<lane>L\d+))?[_.-]R(?P<mate>[12])(?:_\d+)?" + _EXT, re.IGNORECASE),
    re.compile(r"^(?P<sample>.+?)_(?P<mate>[12])" + _EXT, re.IGNORECASE),
)
_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".fastq", ".fq", ".fasta", ".fa", ".fna", ".fas")


def nfc(text: str) -> str:
    """Unicode NFC form of a name (macOS writes file names in NFD).

    Examples
    --------
    >>> nfc("Me\\u0301xico") == "M\\u00e9xico"
    True
    """
    return unicodedata.normalize("NFC", str(text))


def mate_key(name: str | os.PathLike) -> tuple[str, str, int] | None:
    """``(sample, lane, mate)`` of a paired-read file name, or ``None`` when it names no mate.

    Examples
    --------
    >>> mate_key("run/S01_1.fastq")
    ('S01', '', 1)
    """
    base = nfc(Path(name).name)
    for pat in _PATTERNS:
        m = pat.match(base)
        if m:
            return m.group("sample"), (m.groupdict().get("lane") or "").upper(), int(m.group("mate"))
    return None


def sample_from_filename(path: str | os.PathLike) -> str:
    """Sample name of a read file: the mate-name stem, else the name without its extensions (NFC).

    Examples
    --------
    >>> sample_from_filename("a/F3D0_S188_L001_R2_001.fastq.gz"), sample_from_filename("S1.fasta.gz")
    ('F3D0', 'S1')
    """
    key = mate_key(path)
    if key:
        return key[0]
    name = nfc(Path(path).name)
    changed = True
    while changed:
        changed = False
        for suf in _SUFFIXES:
            if name.lower().endswith(suf) and len(name) > len(suf):
                name, changed = name[: -len(suf)], True
    return name


@dataclass
class ReadInput:
    """The files of one sample: ``pairs`` of (R1, R2) paths and ``singles`` (unpaired files).

    Examples
    --------
    >>> ReadInput("S1", pairs=[(Path("S1_R1.fq"), Path("S1_R2.fq"))]).paired
    True
    """

    sample_id: str
    pairs: list = field(default_factory=list)
    singles: list = field(default_factory=list)

    @property
    def paired(self) -> bool:
        """Whether the sample has read pairs."""
        return bool(self.pairs)

    @property
    def files(self) -> list[Path]:
        """All files of the sample."""
        return [p for pair in self.pairs for p in pair] + list(self.singles)


def _sheet_map(sheet: pd.DataFrame | None, sheet_dir: Path | None) -> dict[str, tuple[str, str]]:
    """File (resolved path and base name) -> (sample_id, role) from ``file_R1``/``file_R2``/``file``."""
    out: dict[str, tuple[str, str]] = {}
    if sheet is None:
        return out
    for col, role in (("file_R1", "R1"), ("file_R2", "R2"), ("file", "single")):
        if col not in sheet.columns:
            continue
        for sid, f in zip(sheet["sample_id"], sheet[col]):
            if not isinstance(f, str) or not f.strip():
                continue
            f = nfc(f.strip())
            p = Path(f)
            keys = {f, p.name}
            if sheet_dir is not None and not p.is_absolute():
                keys.add(str((sheet_dir / p).resolve()))
            elif p.is_absolute():
                keys.add(str(p.resolve()))
            for k in keys:
                out.setdefault(k, (nfc(sid), role))
    return out


def _check_duplicates(paths: Sequence[Path]) -> None:
    seen: dict[tuple, Path] = {}
    for p in paths:
        try:
            st = p.stat()
            key = (st.st_dev, st.st_ino)
        except OSError:
            key = (str(p.resolve()),)
        if key in seen:
            raise InputError(f"the same file is given twice: {seen[key]} and {p}", path=p, field="reads",
                             expected="each read file once")
        seen[key] = p


def _group(paths: Sequence[Path], sheet_map: dict, paired: bool) -> dict[str, dict]:
    """sample -> {"R1": {lane_key: path}, "R2": {...}, "single": [paths], "dirs": {dir: path}}."""
    groups: dict[str, dict] = {}
    for p in paths:
        hit = sheet_map.get(str(p.resolve())) or sheet_map.get(nfc(str(p))) or sheet_map.get(nfc(p.name))
        key = mate_key(p) if paired else None
        if hit is not None:
            sid, role = hit
            if role == "single" and key is not None and paired:
                role = f"R{key[2]}"
            lane = "sheet"
        elif key is not None:
            sid, lane, mate = key
            role, lane = f"R{mate}", lane + "|" + str(p.parent)
        else:
            sid, role, lane = sample_from_filename(p), "single", ""
        g = groups.setdefault(sid, {"R1": {}, "R2": {}, "single": [], "dirs": {}})
        if hit is None:  # names from file names: one sample = one folder
            other = next((q for d, q in g["dirs"].items() if d != p.parent), None)
            if other is not None:
                raise InputError(f"two files with the sample name {sid!r} in different folders: {other} and {p}",
                                 path=p, field="reads", expected="one folder per sample name (or a sample sheet "
                                 "with file_R1/file_R2 or file columns)")
            g["dirs"].setdefault(p.parent, p)
        if role == "single":
            g["single"].append(p)
        else:
            if lane in g[role]:
                raise InputError(f"two {role} files for sample {sid!r}: {g[role][lane]} and {p}", path=p,
                                 field="reads", expected=f"one {role} file per sample and lane")
            g[role][lane] = p
    return groups


def find_inputs(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    sheet: pd.DataFrame | None = None,
    sheet_dir: str | os.PathLike | None = None,
    paired: bool = True,
) -> list[ReadInput]:
    """Group read files into samples: mates paired, unpaired files alone, in sample order.

    Parameters
    ----------
    paths : path or list of paths
        FASTA/FASTQ files, R1 and R2 mixed in any order.
    sheet : DataFrame, optional
        Sample sheet (``sample_id``; optional ``file_R1``/``file_R2`` and ``file`` columns).
    sheet_dir : path, optional
        Folder the sheet's file paths are relative to (the sheet's folder).
    paired : bool
        Pair mates by name (default); ``False`` reads every file as unpaired.

    Returns
    -------
    list of ReadInput
        In the order of the sheet's rows when given, else of first appearance.

    Raises
    ------
    InputError
        The same file twice, one sample name in two folders, a mate missing (naming the file
        and the mate expected), or two R1 files for one sample and lane.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for n in ("A_S1_L001_R1_001.fastq", "A_S1_L001_R2_001.fastq", "B.fasta"):
    ...     _ = (d / n).write_text("")
    >>> [(i.sample_id, len(i.pairs), len(i.singles)) for i in find_inputs(sorted(d.iterdir()))]
    [('A', 1, 0), ('B', 0, 1)]
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no read files given", field="reads", expected="at least one FASTA/FASTQ file")
    for p in paths:
        if not p.exists():
            raise InputError("file not found", path=p)
        if p.is_dir():
            raise InputError("is a folder", path=p, expected="a file")
    _check_duplicates(paths)
    groups = _group(paths, _sheet_map(sheet, Path(sheet_dir) if sheet_dir else None), paired)
    out = []
    for sid, g in groups.items():
        pairs = []
        for lane in sorted(set(g["R1"]) | set(g["R2"])):
            a, b = g["R1"].get(lane), g["R2"].get(lane)
            if a is None or b is None:
                have, want = (b, "R1") if a is None else (a, "R2")
                raise InputError(f"the {want} mate of {have} is missing (sample {sid!r})", path=have, field="reads",
                                 expected=f"its {want} file among the inputs, or --unpaired to read files one by one")
            pairs.append((a, b))
        out.append(ReadInput(sid, pairs=pairs, singles=list(g["single"])))
    if sheet is not None:
        order = {nfc(s): i for i, s in enumerate(sheet["sample_id"])}
        out.sort(key=lambda r: order.get(r.sample_id, len(order)))
    return out
