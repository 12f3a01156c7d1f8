"""Reads as the sequencer delivers them: pair discovery, merging, primer trimming, filters, track.

- :mod:`~ednaembed.reads.pairs`: which files are one sample (Illumina mate names, ``_R1``/``_1``
  names, sample-sheet ``file_R1``/``file_R2``); duplicate inputs refused; NFC sample names.
- :mod:`~ednaembed.reads.merge`: pairs merged as ``vsearch --fastq_mergepairs`` (ungapped
  overlap, Edgar & Flyvbjerg posterior qualities), numba-compiled over batches.
- :mod:`~ednaembed.reads.filter`: primers cut with cutadapt, all-N / N / length / maxEE filters.
- :mod:`~ednaembed.reads.sample`: every sample streamed into the long count table and the
  per-sample track table (``Community.track``).

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "S1.fasta").write_text(">a\\nACGT\\n")
>>> long, track = read_inputs(find_inputs([d / "S1.fasta"]))
>>> long["count"].tolist(), track.index.tolist()
([1], ['S1'])
"""

from .filter import PrimerTrimmer, filter_reads
from .merge import REASONS, MergedBatch, expected_errors_batch, iter_pairs, merge_files, merge_pairs, pack_reads
from .pairs import ReadInput, find_inputs, mate_key, nfc, sample_from_filename
from .sample import TRACK_COLUMNS, ReadSettings, read_inputs

__all__ = ["PrimerTrimmer", "filter_reads", "REASONS", "MergedBatch", "expected_errors_batch", "iter_pairs",
           "merge_files", "merge_pairs", "pack_reads", "ReadInput", "find_inputs", "mate_key", "nfc",
           "sample_from_filename", "TRACK_COLUMNS", "ReadSettings", "read_inputs"]
