"""Augmentation of a whole batch on the batch's device (:class:`BatchAugment`): random
perspective/affine crop, colour, blur, erasing, optional horizontal flip. The network applies
it itself in training mode (:class:`ecoreid.features.EmbeddingNet`).

Examples
--------
>>> import torch
>>> BatchAugment(strength=0.0)(torch.rand(2, 3, 8, 8)).shape
torch.Size([2, 3, 8, 8])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BatchAugment", "model_input"]


# ----------------------------------------------------------------------------- augmentation
class BatchAugment(nn.Module):
    """Random augmentation of a batch of images, computed on the batch's device.

    Per sample: a random homography (scale, translation, rotation, shear, perspective)
    resampled with ``grid_sample``, brightness / contrast / saturation / colour cast,
    Gaussian blur, random erasing, and horizontal flip only when ``hflip`` is True.

    Parameters
    ----------
    strength : float
        Scales all ranges (0 = identity).
    hflip : bool
        Allow horizontal flips (only if left and right sides look alike).
    erase_p, blur_p : float
        Probabilities of random erasing and blur per sample.
    seed : int
        Seed of the augmentation's own generator (CPU), so runs are reproducible.

    Examples
    --------
    >>> aug = BatchAugment(seed=0)
    >>> aug(torch.rand(4, 3, 32, 48)).shape
    torch.Size([4, 3, 32, 48])
    """

    def __init__(self, *, strength: float = 1.0, hflip: bool = False, erase_p: float = 0.4,
                 blur_p: float = 0.3, seed: int = 0) -> None:
        super().__init__()
        self.strength = float(strength)
        self.hflip = bool(hflip)
        self.erase_p = float(erase_p)
        self.blur_p = float(blur_p)
        self._gen = torch.Generator().manual_seed(int(seed))

    def _u(self, n: int, lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=self._gen) * (hi - lo) + lo

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Augment ``x`` of shape ``(B, 3, H, W)`` with values in [0, 1]."""
        if self.strength <= 0:
            return x
        b, _, h, w = x.shape
        s, dev = self.strength, x.device
        # --- geometry: homography in normalised coordinates, output -> input
        scale = self._u(b, 1.0 - 0.25 * s, 1.0 + 0.1 * s)
        ang = self._u(b, -12 * s, 12 * s) * math.pi / 180
        tx, ty = self._u(b, -0.12 * s, 0.12 * s), self._u(b, -0.12 * s, 0.12 * s)
        sh = self._u(b, -0.1 * s, 0.1 * s)
        px, py = self._u(b, -0.15 * s, 0.15 * s), self._u(b, -0.15 * s, 0.15 * s)
        cos, sin = torch.cos(ang) * scale, torch.sin(ang) * scale
        m = torch.zeros(b, 3, 3)
        m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = cos, -sin + sh, tx
        m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = sin, cos, ty
        m[:, 2, 0], m[:, 2, 1], m[:, 2, 2] = px, py, 1.0
        if self.hflip:
            flip = torch.rand(b, generator=self._gen) < 0.5
            m[flip, :, 0] *= -1
        ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, w)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        base = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).view(1, h * w, 3)
        pts = base @ m.transpose(1, 2)
        grid = (pts[..., :2] / pts[..., 2:].clamp(min=1e-3)).view(b, h, w, 2).to(dev, x.dtype)
        fill = x.mean(dim=(2, 3), keepdim=True)
        out = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
        # --- colour
        bright = self._u(b, 1 - 0.3 * s, 1 + 0.3 * s).view(b, 1, 1, 1).to(dev)
        contr = self._u(b, 1 - 0.3 * s, 1 + 0.3 * s).view(b, 1, 1, 1).to(dev)
        sat = self._u(b, 1 - 0.4 * s, 1 + 0.3 * s).view(b, 1, 1, 1).to(dev)
        cast = (1 + (torch.rand(b, 3, 1, 1, generator=self._gen) - 0.5) * 0.16 * s).to(dev)
        gray = out.mean(dim=1, keepdim=True)
        out = gray + (out - gray) * sat
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = ((out - mean) * contr + mean) * bright * cast
        # --- blur (one 5x5 Gaussian per sample, via a grouped convolution)
        do_blur = torch.rand(b, generator=self._gen) < self.blur_p
        if do_blur.any():
            sig = self._u(b, 0.3, 0.3 + 1.0 * s).clamp(min=0.3)
            r = torch.arange(-2, 3, dtype=torch.float32)
            k1 = torch.exp(-(r[None, :] ** 2) / (2 * sig[:, None] ** 2))
            k1 = k1 / k1.sum(1, keepdim=True)
            k2 = (k1[:, :, None] * k1[:, None, :])  # (b, 5, 5)
            ident = torch.zeros(5, 5)
            ident[2, 2] = 1.0
            k2 = torch.where(do_blur[:, None, None], k2, ident)
            kern = k2.repeat_interleave(3, dim=0).unsqueeze(1).to(dev, out.dtype)  # (b*3,1,5,5)
            out = F.conv2d(F.pad(out.reshape(1, b * 3, h, w), (2, 2, 2, 2), mode="replicate"),
                           kern, groups=b * 3).view(b, 3, h, w)
        # --- random erasing (a noise rectangle per chosen sample)
        do_erase = torch.rand(b, generator=self._gen) < self.erase_p * min(1.0, s)
        if do_erase.any():
            eh = (self._u(b, 0.1, 0.4) * h).long().clamp(min=1)
            ew = (self._u(b, 0.1, 0.4) * w).long().clamp(min=1)
            y0 = (torch.rand(b, generator=self._gen) * (h - eh + 1).float()).long()
            x0 = (torch.rand(b, generator=self._gen) * (w - ew + 1).float()).long()
            yy = torch.arange(h).view(1, h, 1)
            xx = torch.arange(w).view(1, 1, w)
            mask = ((yy >= y0.view(b, 1, 1)) & (yy < (y0 + eh).view(b, 1, 1))
                    & (xx >= x0.view(b, 1, 1)) & (xx < (x0 + ew).view(b, 1, 1)) & do_erase.view(b, 1, 1))
            noise = torch.rand(b, 3, h, w, generator=self._gen)
            out = torch.where(mask.unsqueeze(1).to(dev), noise.to(dev, out.dtype), out)
        return out.clamp(0.0, 1.0)


def model_input(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, augment=None, *,
                training: bool = False) -> torch.Tensor:
    """A batch ``(B, 3, H, W)`` of floats in [0, 1] (or uint8 0..255) as a network's normalised input,
    augmented (``augment``) in training only; shared by every embedding network.

    Examples
    --------
    >>> x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    >>> model_input(x, torch.zeros(1, 3, 1, 1), torch.full((1, 3, 1, 1), 0.5)).max().item()
    2.0
    """
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    if training and augment is not None:
        x = augment(x)
    return (x - mean) / std

