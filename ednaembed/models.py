"""A small 1-D convolutional sequence encoder (NeuroSEED-like) with an embedding head.

Input: encoded sequences ``(N, 4, L)`` from :func:`ednaembed.encode.one_hot` (zero padding marks
the end of each sequence). Output: ``(N, embedding_size)`` L2-normalised float embeddings, so
that Euclidean distance between two outputs lies in ``[0, 2]`` and a learned scale (in the
distance-regression loss) maps it onto normalised edit distance.

Architecture: ``n_blocks`` blocks of [Conv1d(kernel) -> BatchNorm -> GELU], every block after
the first with stride 2 (downsampling by two, as the pooling of NeuroSEED's CNN, Corso et al.
2021, but cheaper); padding positions are zeroed after each block so that an embedding never
depends on how much padding a batch has; masked mean- and max-pooling over the valid
positions (``head="pool"``, any length) or, by default, NeuroSEED's position-keeping flatten +
two-layer head for amplicons up to ``max_length`` (320 nt: V4, V9, COI-Leray fit; longer
sequences are cut, with a warning). The defaults (stem stride, head, channels, dimensions)
were chosen by measurement on held-out 16S families; the figures are in ``BENCHMARKS.md``.

Examples
--------
>>> import torch
>>> from ednaembed.encode import one_hot
>>> m = SequenceEncoder(embedding_size=16, channels=8, n_blocks=2).eval().requires_grad_(False)
>>> z = m(torch.from_numpy(one_hot(["ACGTACGTAC", "ACG"], length=12)))
>>> tuple(z.shape), round(float(z.norm(dim=1)[0]), 4)
((2, 16), 1.0)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EncoderConfig", "SequenceEncoder", "build_model", "MODEL_NAME"]

MODEL_NAME = "ednaembed.SequenceEncoder.v2"


@dataclass
class EncoderConfig:
    """Hyper-parameters of :class:`SequenceEncoder` (JSON-serialisable).

    Examples
    --------
    >>> EncoderConfig(embedding_size=64).to_dict()["embedding_size"]
    64
    """

    embedding_size: int = 128
    channels: int = 48
    n_blocks: int = 4
    kernel_size: int = 5
    max_length: int = 320
    min_length: int = 32
    stem_stride: int = 2
    head: str = "flatten"

    def to_dict(self) -> dict:
        """The config as a plain dict (JSON; stored in checkpoints).

        Examples
        --------
        >>> sorted(EncoderConfig().to_dict())[:3]
        ['channels', 'embedding_size', 'head']
        """
        return dataclasses.asdict(self)


class SequenceEncoder(nn.Module):
    """1-D CNN encoder of DNA sequences with a normalised embedding head.

    Parameters
    ----------
    embedding_size : int
        Output dimension.
    channels : int
        Convolution channels (constant over blocks).
    n_blocks : int
        Conv blocks; each after the first halves the length (stride 2).
    kernel_size : int
        Convolution width.
    max_length : int
        Longest sequence the encoding is made for (longer ones are truncated by the caller).
    min_length : int
        Shortest sequence accepted (the receptive field of the first blocks).
    stem_stride : int
        Stride of the first convolution (2 halves the cost of every block: faster, coarser).
    head : {"pool", "flatten"}
        ``pool``: masked mean+max over positions (any length). ``flatten``: keep the positions
        (NeuroSEED's flatten + linear), for amplicons of similar length; sequences are
        zero-padded (or cut) to ``max_length``.

    Examples
    --------
    >>> m = SequenceEncoder(embedding_size=8, channels=4, n_blocks=2)
    >>> m.config.embedding_size
    8
    """

    model_name = MODEL_NAME
    #: use :meth:`_forward_inference` in eval mode without autograd (same function, cheaper)
    fast_inference: bool = True

    def __init__(
        self,
        *,
        embedding_size: int = 128,
        channels: int = 48,
        n_blocks: int = 4,
        kernel_size: int = 5,
        max_length: int = 320,
        min_length: int = 32,
        stem_stride: int = 2,
        head: str = "flatten",
    ) -> None:
        super().__init__()
        if head not in ("pool", "flatten"):
            raise ValueError(f"head must be 'pool' or 'flatten', got {head!r}")
        self.config = EncoderConfig(embedding_size, channels, n_blocks, kernel_size, max_length, min_length, stem_stride, head)
        blocks = []
        c_in = 4
        for i in range(n_blocks):
            blocks.append(
                nn.Sequential(
                    nn.Conv1d(c_in, channels, kernel_size, stride=stem_stride if i == 0 else 2, padding=kernel_size // 2, bias=False),
                    nn.BatchNorm1d(channels),
                    nn.GELU(),
                )
            )
            c_in = channels
        self.blocks = nn.ModuleList(blocks)
        if head == "pool":
            self.head = nn.Sequential(nn.Linear(2 * channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, embedding_size))
        else:
            n_pos = max_length
            for i in range(n_blocks):
                st = stem_stride if i == 0 else 2
                n_pos = (n_pos - 1) // st + 1
            self._n_pos = n_pos
            self.head = nn.Sequential(nn.Linear(n_pos * channels, 256), nn.GELU(), nn.Linear(256, embedding_size))

    @property
    def embedding_size(self) -> int:
        return self.config.embedding_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed an encoded batch ``(N, 4, L)`` into ``(N, embedding_size)`` unit vectors.

        Examples
        --------
        >>> from ednaembed.encode import one_hot
        >>> m = SequenceEncoder(embedding_size=8, channels=4, n_blocks=2).eval()
        >>> tuple(m(torch.from_numpy(one_hot(["ACGTACGTAC"], length=12))).shape)
        (1, 8)
        """
        if self.fast_inference and not self.training and not torch.is_grad_enabled():
            return self._forward_inference(x)
        mask = (x.sum(1, keepdim=True) > 0).to(x.dtype)  # (N, 1, L)
        h = x
        for i, blk in enumerate(self.blocks):
            stride = self.config.stem_stride if i == 0 else 2
            if stride > 1:
                mask = mask[..., ::stride]  # a stride-2 output is valid where its centre input was
            h = blk(h) * mask  # keep padding at zero so it never leaks into real positions
        if self.config.head == "flatten":
            L = h.shape[-1]
            if L < self._n_pos:
                h = F.pad(h, (0, self._n_pos - L))
            z = self.head(h[..., : self._n_pos].flatten(1))
            return F.normalize(z, dim=1)
        n = mask.sum(-1).clamp(min=1.0)
        mean = h.sum(-1) / n
        mx = (h + (mask - 1) * 1e4).amax(-1)
        z = self.head(torch.cat([mean, mx], dim=1))
        return F.normalize(z, dim=1)


    @torch.no_grad()
    def _fused_blocks(self) -> list[tuple[torch.Tensor, torch.Tensor, int, int]]:
        """Eval-mode conv + BatchNorm folded into one conv: ``(weight, bias, stride, padding)`` per block."""
        out = []
        for i, blk in enumerate(self.blocks):
            conv, bn = blk[0], blk[1]
            g = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w = conv.weight * g[:, None, None]
            b = bn.bias - bn.running_mean * g
            out.append((w, b, conv.stride[0], conv.padding[0]))
        return out

    def _forward_inference(self, x: torch.Tensor) -> torch.Tensor:
        """The same function as :meth:`forward` in eval mode, cheaper (used under no_grad / inference_mode).

        Activations stay position-major (``(N, L, C)``, i.e. channels-last) from end to end, so
        no layout copies are made between layers; BatchNorm is folded into the convolutions; the
        first convolution (4 input channels) is one matrix product over unfolded windows (faster
        than oneDNN's conv for so few channels; ``BENCHMARKS.md``), the others oneDNN channels-last convs;
        padding is zeroed only in the tail where some sequence of the batch ends; the flatten
        head skips the weights of positions that are all padding. Equal to :meth:`forward`
        within float32 rounding (tested).
        """
        lens = (x.sum(1) > 0).sum(1)  # (N,): the real positions are a prefix
        h = x.transpose(1, 2)  # (N, L, 4) view
        for w, b, stride, pad in self._fused_blocks():
            c_out, c_in, k = w.shape
            n = h.shape[0]
            if c_in * k <= 32:  # few input channels: im2col + one GEMM, output (N * L', C)
                u = F.pad(h.transpose(1, 2), (pad, pad)).unfold(2, k, stride)  # (N, C, L', k)
                lo = u.shape[2]
                # windows plus a column of ones, so the bias rides in the GEMM (no broadcast copy)
                cols = h.new_empty((n, lo, c_in * k + 1))
                cols[..., :-1].view(n, lo, c_in, k).copy_(u.permute(0, 2, 1, 3))
                cols[..., -1] = 1.0
                wb = torch.cat([w.reshape(c_out, -1), b[:, None]], dim=1)  # (C_out, C_in * k + 1)
                h = torch.mm(cols.view(n * lo, -1), wb.t()).view(n, lo, c_out)
            else:  # (N, L, C) memory is (N, C, 1, L) in channels-last: oneDNN's native layout
                h4 = h.permute(0, 2, 1).unsqueeze(2)
                wc = w.unsqueeze(2).contiguous(memory_format=torch.channels_last)
                h = F.conv2d(h4, wc, b, stride=(1, stride), padding=(0, pad))
                h = h.squeeze(2).permute(0, 2, 1)  # (N, L', C) view of channels-last memory
                if not h.is_contiguous():
                    h = h.contiguous()
            h = F.gelu(h)
            lens = (lens - 1) // stride + 1 if stride > 1 else lens  # valid outputs: centre inside the sequence
            L = h.shape[1]
            lo = int(lens.min()) if len(lens) else L
            if lo < L:  # zero the padding (only the tail can hold any)
                keep = torch.arange(lo, L, device=h.device) < lens[:, None]  # (N, L - lo)
                h[:, lo:, :] *= keep[:, :, None].to(h.dtype)
        C, L = h.shape[2], h.shape[1]
        if self.config.head == "flatten":
            lin, act, lin2 = self.head[0], self.head[1], self.head[2]
            # forward flattens (C, position); reorder the weights to (position, C) and drop the
            # positions that are padding in the whole batch (their inputs are zero)
            P = min(L, self._n_pos)
            w0 = lin.weight.view(lin.weight.shape[0], C, self._n_pos)[..., :P].transpose(1, 2)
            z = F.linear(h[:, :P, :].reshape(h.shape[0], P * C), w0.reshape(lin.weight.shape[0], P * C), lin.bias)
            return F.normalize(lin2(act(z)), dim=1)
        mask = (torch.arange(L, device=h.device) < lens[:, None]).to(h.dtype)[:, :, None]  # (N, L, 1)
        n = mask.sum(1).clamp(min=1.0)
        mean = h.sum(1) / n
        mx = (h + (mask - 1) * 1e4).amax(1)
        return F.normalize(self.head(torch.cat([mean, mx], dim=1)), dim=1)


def build_model(config: dict | EncoderConfig | None = None) -> SequenceEncoder:
    """Build a :class:`SequenceEncoder` from a config dict (e.g. read from a checkpoint JSON).

    Examples
    --------
    >>> build_model({"embedding_size": 16, "channels": 8}).config.channels
    8
    """
    if config is None:
        return SequenceEncoder()
    if isinstance(config, EncoderConfig):
        config = config.to_dict()
    fields = {f.name for f in dataclasses.fields(EncoderConfig)}
    return SequenceEncoder(**{k: v for k, v in config.items() if k in fields})
