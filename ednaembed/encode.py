"""DNA sequences -> tensors: one-hot, IUPAC codes as fractional probabilities, padding, masks.

A sequence of length ``n`` becomes a ``(4, L)`` float32 matrix (channels ``A, C, G, T``);
an ambiguity code spreads its mass over the bases it stands for (``R`` = 0.5 A + 0.5 G,
``N`` = 0.25 each). Positions beyond ``n`` are all-zero: the mask is ``x.sum(0) > 0``, so the
model recovers it from the tensor itself. Channel order is chosen so that reversing the channel
axis complements a base (A<->T, C<->G).

Examples
--------
>>> x = one_hot(["ACGR"], length=6)
>>> x.shape
(1, 4, 6)
>>> x[0, :, 3].tolist()  # R = A or G
[0.5, 0.0, 0.5, 0.0]
>>> mask_of(x)[0].tolist()
[True, True, True, True, False, False]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from dmlcore.errors import InputError

__all__ = ["ALPHABET", "IUPAC", "reverse_complement", "one_hot", "mask_of", "lengths_of", "reverse_complement_onehot", "augment_reverse_complement", "encode_batches"]

ALPHABET = "ACGT"

#: IUPAC nucleotide codes and the bases each one stands for.
IUPAC: dict[str, str] = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}
_COMPLEMENT = str.maketrans("ACGTRYSWKMBDHVN", "TGCAYRSWMKVHDBN")

_TABLE = np.zeros((256, 4), dtype=np.float32)
_VALID = np.zeros(256, dtype=bool)
for _code, _bases in IUPAC.items():
    for _b in _bases:
        for _c in (_code, _code.lower()):
            _TABLE[ord(_c), ALPHABET.index(_b)] = 1.0 / len(_bases)
    _VALID[ord(_code)] = _VALID[ord(_code.lower())] = True
_TABLE[ord("U")] = _TABLE[ord("T")]
_TABLE[ord("u")] = _TABLE[ord("T")]
_VALID[ord("U")] = _VALID[ord("u")] = True
_TABLE_T = np.ascontiguousarray(_TABLE.T)  # (4, 256)


def reverse_complement(seq: str) -> str:
    """Reverse complement of an upper-case IUPAC DNA string.

    Examples
    --------
    >>> reverse_complement("ACGTN")
    'NACGT'
    """
    return seq.translate(_COMPLEMENT)[::-1]


def one_hot(
    sequences: Sequence[str],
    *,
    length: int | None = None,
    min_length: int = 1,
    truncate: bool = True,
) -> np.ndarray:
    """Encode sequences as a ``(N, 4, L)`` float32 array, zero-padded on the right.

    Parameters
    ----------
    sequences : sequence of str
        DNA/RNA with IUPAC codes (any case).
    length : int, optional
        Output length ``L``; default the longest sequence.
    min_length : int
        Sequences shorter than this raise :class:`InputError` (a model needs a minimum
        receptive field).
    truncate : bool
        Cut longer sequences to ``length`` (else raise).

    Returns
    -------
    ndarray of float32, shape (N, 4, L)

    Examples
    --------
    >>> one_hot(["ACGN", "AC"]).shape
    (2, 4, 4)
    >>> one_hot(["N"])[0, :, 0].tolist()
    [0.25, 0.25, 0.25, 0.25]
    """
    n = len(sequences)
    if n == 0:
        return np.zeros((0, 4, length or min_length), dtype=np.float32)
    lens = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=n)
    L = int(length or lens.max())
    short = np.flatnonzero(lens < min_length)
    if short.size:
        i = int(short[0])
        raise InputError(
            f"{short.size} sequence(s) shorter than the model needs", row=i + 1, field="sequence",
            value=sequences[i], expected=f"at least {min_length} nt",
        )
    if not truncate and lens.max() > L:
        i = int(np.argmax(lens))
        raise InputError("sequence longer than the encoding length", row=i + 1, field="sequence",
                         value=int(lens[i]), expected=f"at most {L} nt")
    # vectorised: one bytes buffer for the whole batch, scattered into an (N, L) code matrix
    if lens.max() > L:
        sequences = [s[:L] for s in sequences]
        lens = np.minimum(lens, L)
    flat = np.frombuffer("".join(sequences).encode("ascii", errors="replace"), dtype=np.uint8)
    bad = ~_VALID[flat]
    if bad.any():
        k = int(np.argmax(bad))
        raise InputError("non-nucleotide character", row=int(np.searchsorted(np.cumsum(lens), k, side="right")) + 1,
                         field="sequence", value=chr(flat[k]), expected="IUPAC nucleotide codes")
    if flat.size == n * L:  # every sequence fills the length (amplicons sorted by length): a reshape
        codes = flat.reshape(n, L)
    else:
        codes = np.zeros((n, L), dtype=np.uint8)
        starts = np.cumsum(lens) - lens
        codes[np.repeat(np.arange(n), lens), np.arange(flat.size) - np.repeat(starts, lens)] = flat
    x = np.empty((n, 4, L), dtype=np.float32)
    for c in range(4):  # one gather per channel, written in place: no (N, L, 4) -> (N, 4, L) transpose
        np.take(_TABLE_T[c], codes, out=x[:, c, :])
    return x


def mask_of(x) -> np.ndarray:
    """Boolean ``(N, L)`` mask of real (non-padding) positions of an encoded batch.

    Examples
    --------
    >>> mask_of(one_hot(["AC"], length=3)).tolist()
    [[True, True, False]]
    """
    return np.asarray(x).sum(axis=1) > 0


def lengths_of(x) -> np.ndarray:
    """Sequence lengths of an encoded batch (number of non-padding positions).

    Examples
    --------
    >>> lengths_of(one_hot(["ACG", "A"], length=4)).tolist()
    [3, 1]
    """
    return mask_of(x).sum(axis=1)


def reverse_complement_onehot(x):
    """Reverse complement of encoded sequences (numpy or torch), keeping right padding.

    Examples
    --------
    >>> x = one_hot(["AAC", "G"], length=4)
    >>> bool(np.allclose(reverse_complement_onehot(x), one_hot(["GTT", "C"], length=4)))
    True
    """
    is_np = isinstance(x, np.ndarray)
    xt = torch.from_numpy(np.ascontiguousarray(x)) if is_np else x
    N, C, L = xt.shape
    lens = (xt.sum(1) > 0).sum(1)  # (N,)
    pos = torch.arange(L, device=xt.device).unsqueeze(0)  # (1, L)
    src = (lens.unsqueeze(1) - 1 - pos).clamp(min=0)  # reversed index within the real part
    valid = pos < lens.unsqueeze(1)
    rc = xt.flip(1)  # complement: ACGT -> TGCA
    out = torch.gather(rc, 2, src.unsqueeze(1).expand(N, C, L)) * valid.unsqueeze(1)
    return out.numpy() if is_np else out


def augment_reverse_complement(sequences: Sequence[str], *, p: float = 0.5, seed=None) -> list[str]:
    """Replace each sequence by its reverse complement with probability ``p`` (augmentation).

    Examples
    --------
    >>> augment_reverse_complement(["AACG"], p=1.0, seed=0)
    ['CGTT']
    """
    rng = np.random.default_rng(seed)
    flip = rng.random(len(sequences)) < p
    return [reverse_complement(s.upper()) if f else s for s, f in zip(sequences, flip)]


def encode_batches(sequences: Sequence[str], *, batch_size: int = 1024, length: int | None = None):
    """Yield encoded ``torch.Tensor`` batches of a long list (bounded memory).

    Examples
    --------
    >>> [tuple(b.shape) for b in encode_batches(["ACGT", "AC", "A"], batch_size=2)]
    [(2, 4, 4), (1, 4, 4)]
    """
    L = length or max((len(s) for s in sequences), default=1)
    for i in range(0, len(sequences), batch_size):
        yield torch.from_numpy(one_hot(sequences[i : i + batch_size], length=L))
