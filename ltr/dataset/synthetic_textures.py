"""Procedural colour textures for the synthetic tracking videos.

Two disjoint sets of texture families exist: ``'train'`` and ``'test'``. A family is a
generator of a scalar or label field (noise blobs, stripes, rings, cells, ...) that a colour
palette turns into an RGB image. Test families never occur in training videos, so a tracker
evaluated on the test set sees target appearances it was never trained on.

A texture is described by a :class:`TextureSpec` (family, numeric parameters, palette) that is
cheap to sample; pixels are produced only by :func:`render_texture`. Spatial parameters are
fractions of a reference length (``scale``: the object's size or the image size), so one spec
renders alike at any resolution.

All images here are float32 RGB in [0, 1], shape (H, W, 3).
"""
from __future__ import annotations

import colorsys
import dataclasses
import math
from typing import Callable, Dict, Optional, Tuple

import cv2
import numpy as np

#: Texture families per texture set; the two sets share no family.
TEXTURE_FAMILIES: Dict[str, Tuple[str, ...]] = {
    "train": ("blobs", "stripes", "checker", "spots", "speckle_gradient"),
    "test": ("rings", "cells", "plaid", "marble", "dots"),
}


@dataclasses.dataclass(frozen=True)
class TextureSpec:
    """A texture: family name, numeric parameters and an (K, 3) RGB palette in [0, 1]."""

    family: str
    params: Tuple[Tuple[str, float], ...]
    palette: Tuple[Tuple[float, float, float], ...]

    def param(self, name: str) -> float:
        """Value of one numeric parameter."""
        return dict(self.params)[name]

    def palette_array(self) -> np.ndarray:
        """The palette as a float32 (K, 3) array."""
        return np.asarray(self.palette, dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# parameter ranges; train and test families have their own ranges
# ----------------------------------------------------------------------------------------------

#: (low, high) of every numeric parameter of every family. Lengths are fractions of ``scale``.
PARAM_RANGES: Dict[str, Dict[str, Tuple[float, float]]] = {
    # train
    "blobs": {"period": (0.25, 0.6), "sharpness": (2.0, 8.0), "octaves": (1.0, 3.0)},
    "stripes": {"period": (0.15, 0.45), "angle": (0.0, math.pi), "warp": (0.0, 0.4), "sharpness": (1.0, 6.0)},
    "checker": {"cell": (0.15, 0.4), "angle": (0.0, math.pi / 2), "shading": (0.05, 0.2)},
    "spots": {"radius": (0.05, 0.16), "density": (0.3, 0.8), "blur": (0.0, 1.0)},
    "speckle_gradient": {"angle": (0.0, 2 * math.pi), "speckle": (0.1, 0.3), "grain": (1.0, 2.5)},
    # test
    "rings": {"period": (0.12, 0.35), "cx": (-0.5, 1.5), "cy": (-0.5, 1.5), "sharpness": (1.0, 6.0)},
    "cells": {"cell": (0.15, 0.4), "border": (0.3, 0.8), "jitter": (0.05, 0.25)},
    "plaid": {"period_a": (0.2, 0.5), "period_b": (0.2, 0.5), "angle": (0.0, math.pi / 2), "duty": (0.25, 0.5)},
    "marble": {"period": (0.3, 0.8), "angle": (0.0, math.pi), "turbulence": (1.0, 3.0), "vein": (2.0, 8.0)},
    "dots": {"spacing": (0.15, 0.35), "radius": (0.2, 0.4), "angle": (0.0, math.pi / 2)},
}

#: Number of palette colours per family.
PALETTE_SIZE: Dict[str, int] = {
    "blobs": 3, "stripes": 2, "checker": 2, "spots": 3, "speckle_gradient": 3,
    "rings": 2, "cells": 4, "plaid": 3, "marble": 2, "dots": 2,
}

# Parameters that are angles or positions: perturbation is additive, not multiplicative.
_ADDITIVE = {"angle", "cx", "cy"}


def texture_families(texture_set: str) -> Tuple[str, ...]:
    """Families of the texture set ``'train'`` or ``'test'``."""
    if texture_set not in TEXTURE_FAMILIES:
        raise ValueError(f"texture_set must be one of {sorted(TEXTURE_FAMILIES)}, got {texture_set!r}")
    return TEXTURE_FAMILIES[texture_set]


def sample_palette(rng: np.random.Generator, size: int, saturation: float = 1.0,
                   contrast: float = 1.0) -> np.ndarray:
    """A random palette of ``size`` RGB colours (float32 (size, 3) in [0, 1]).

    Hues follow a colour scheme (analogous, complementary or triadic); brightness values are
    spread so the colours stay distinguishable. ``saturation`` and ``contrast`` (both in (0, 1])
    scale saturation and the spread around the mean colour; backgrounds and occluders use
    lower values than targets.
    """
    base_hue = rng.uniform()
    scheme = rng.integers(3)
    step = (rng.uniform(0.05, 0.12), 0.5, 1.0 / 3.0)[scheme]
    values = np.sort(rng.uniform(0.2, 1.0, size))
    # spread brightness so neighbouring colours never collapse into one
    values = 0.2 + 0.8 * (values - values.min()) / max(values.max() - values.min(), 1e-6) if size > 1 else values
    order = rng.permutation(size)
    colours = []
    for i in range(size):
        hue = (base_hue + step * i + rng.normal(0, 0.02)) % 1.0
        sat = float(np.clip(rng.uniform(0.35, 1.0) * saturation, 0.0, 1.0))
        colours.append(colorsys.hsv_to_rgb(hue, sat, float(values[order[i]])))
    palette = np.asarray(colours, dtype=np.float32)
    mean = palette.mean(axis=0, keepdims=True)
    return np.clip(mean + contrast * (palette - mean), 0.0, 1.0).astype(np.float32)


def sample_texture_spec(rng: np.random.Generator, texture_set: str, family: Optional[str] = None,
                        saturation: float = 1.0, contrast: float = 1.0) -> TextureSpec:
    """Draw a texture of the given set (and family, if given) with a fresh palette."""
    families = texture_families(texture_set)
    if family is None:
        family = families[int(rng.integers(len(families)))]
    elif family not in families:
        raise ValueError(f"family {family!r} is not in texture set {texture_set!r} ({families})")
    params = tuple((name, float(rng.uniform(lo, hi))) for name, (lo, hi) in PARAM_RANGES[family].items())
    palette = sample_palette(rng, PALETTE_SIZE[family], saturation, contrast)
    return TextureSpec(family, params, tuple(map(tuple, palette.tolist())))


def perturb_texture_spec(spec: TextureSpec, rng: np.random.Generator, amount: float) -> TextureSpec:
    """A look-alike of ``spec``: same family, parameters and palette moved by ``amount`` in [0, 1].

    ``amount`` 0 keeps everything (only the noise in the pixels differs); 1 shifts hues by up
    to 90 degrees and numeric parameters by up to half their range.
    """
    amount = float(np.clip(amount, 0.0, 1.0))
    params = []
    for name, value in spec.params:
        lo, hi = PARAM_RANGES[spec.family][name]
        delta = rng.uniform(-0.5, 0.5) * amount * (hi - lo)
        if name in _ADDITIVE:
            params.append((name, value + delta))
        else:
            params.append((name, float(np.clip(value + delta, lo, hi))))
    hue_shift = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * amount * 0.25
    palette = []
    for r, g, b in spec.palette:
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        s = float(np.clip(s * (1 + rng.uniform(-0.3, 0.3) * amount), 0, 1))
        v = float(np.clip(v * (1 + rng.uniform(-0.3, 0.3) * amount), 0, 1))
        palette.append(colorsys.hsv_to_rgb((h + hue_shift) % 1.0, s, v))
    return TextureSpec(spec.family, tuple(params), tuple(palette))


# ----------------------------------------------------------------------------------------------
# fields
# ----------------------------------------------------------------------------------------------

def value_noise(rng: np.random.Generator, height: int, width: int, period: float,
                octaves: int = 1) -> np.ndarray:
    """Smooth noise in [0, 1] (float32 (H, W)): random values on a coarse grid, cubic upsampling.

    Args:
        period: feature size in pixels of the first octave; each further octave halves it.
    """
    field = np.zeros((height, width), np.float32)
    weight_sum = 0.0
    for octave in range(max(1, int(octaves))):
        p = max(period / (2 ** octave), 1.0)
        gh, gw = int(math.ceil(height / p)) + 3, int(math.ceil(width / p)) + 3
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        # upsample the padded grid and cut the middle so borders have no ringing
        big = cv2.resize(grid, (int(round(gw * p)), int(round(gh * p))), interpolation=cv2.INTER_CUBIC)
        oy, ox = int(p), int(p)
        w = 0.5 ** octave
        field += w * big[oy:oy + height, ox:ox + width]
        weight_sum += w
    field /= weight_sum
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-6)


def _grid(height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    yy = np.arange(height, dtype=np.float32)[:, None] + 0.5
    xx = np.arange(width, dtype=np.float32)[None, :] + 0.5
    return yy, xx


def _rotated(height: int, width: int, angle: float) -> Tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(height, width)
    c, s = math.cos(angle), math.sin(angle)
    return xx * c + yy * s, -xx * s + yy * c


def _sharpen(field: np.ndarray, sharpness: float) -> np.ndarray:
    """Push a [0, 1] field towards 0/1 (sharpness 1 = nearly unchanged, 8 = almost binary)."""
    return 0.5 + 0.5 * np.tanh(sharpness * (field - 0.5)) / math.tanh(sharpness * 0.5)


def _palette_ramp(palette: np.ndarray, levels: int = 256) -> np.ndarray:
    """(levels, 3) colours interpolated linearly through the palette."""
    k = palette.shape[0]
    if k == 1:
        return np.repeat(palette, levels, axis=0)
    pos = np.linspace(0.0, k - 1, levels, dtype=np.float32)
    return np.stack([np.interp(pos, np.arange(k), palette[:, c]) for c in range(3)], axis=1).astype(np.float32)


def colorize(field: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Map a [0, 1] field (H, W) onto a palette (K, 3) by piecewise-linear interpolation.

    The field is quantised to 256 levels and looked up in a colour ramp, which is an order of
    magnitude faster than interpolating every pixel and loses nothing after the uint8 output.
    """
    idx = (np.clip(field, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.take(_palette_ramp(palette), idx, axis=0)


def _blobs(rng, h, w, p, pal, scale):
    field = value_noise(rng, h, w, p["period"] * scale, int(round(p["octaves"])))
    return colorize(_sharpen(field, p["sharpness"]), pal)


def _stripes(rng, h, w, p, pal, scale):
    u, _ = _rotated(h, w, p["angle"])
    warp = value_noise(rng, h, w, 0.7 * scale) * p["warp"]
    phase = 2 * math.pi * (u / (p["period"] * scale) + warp + rng.uniform())
    return colorize(_sharpen(0.5 + 0.5 * np.sin(phase), p["sharpness"]), pal)


def _checker(rng, h, w, p, pal, scale):
    u, v = _rotated(h, w, p["angle"])
    cell = p["cell"] * scale
    off = rng.uniform(0, cell, 2)
    field = ((np.floor((u + off[0]) / cell) + np.floor((v + off[1]) / cell)) % 2).astype(np.float32)
    img = colorize(field, pal)
    shade = 1.0 + p["shading"] * (2 * value_noise(rng, h, w, 0.5 * scale) - 1)
    return img * shade[..., None]


def _spots(rng, h, w, p, pal, scale):
    img = np.empty((h, w, 3), np.float32)
    img[:] = pal[0]
    radius = max(p["radius"] * scale, 1.0)
    count = int(p["density"] * h * w / (math.pi * radius ** 2)) + 1
    # cv2 draws with integer coordinates; a 4x shift keeps sub-pixel centres
    shift = 2
    for _ in range(count):
        c = (int(rng.uniform(-radius, w + radius) * 4), int(rng.uniform(-radius, h + radius) * 4))
        r = int(radius * rng.uniform(0.6, 1.4) * 4)
        colour = pal[1 + int(rng.integers(len(pal) - 1))]
        cv2.circle(img, c, r, tuple(float(x) for x in colour), -1, cv2.LINE_AA, shift)
    if p["blur"] > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), p["blur"])
    return img


def _speckle_gradient(rng, h, w, p, pal, scale):
    u, _ = _rotated(h, w, p["angle"])
    u = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
    img = colorize(u + 0.15 * (value_noise(rng, h, w, 0.5 * scale) - 0.5), pal)
    grain = value_noise(rng, h, w, p["grain"]) - 0.5
    return img * (1.0 + 2 * p["speckle"] * grain[..., None])


def _rings(rng, h, w, p, pal, scale):
    yy, xx = _grid(h, w)
    cx, cy = p["cx"] * w, p["cy"] * h
    r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    field = 0.5 + 0.5 * np.sin(2 * math.pi * r / (p["period"] * scale) + rng.uniform(0, 2 * math.pi))
    return colorize(_sharpen(field, p["sharpness"]), pal)


def _cells(rng, h, w, p, pal, scale):
    cell = max(p["cell"] * scale, 2.0)
    # jittered grid of seeds, nearest-seed labels by a distance transform (fast, no python loop)
    ys = np.arange(-cell, h + cell, cell)
    xs = np.arange(-cell, w + cell, cell)
    sy, sx = np.meshgrid(ys, xs, indexing="ij")
    sy = sy + rng.uniform(-0.5, 0.5, sy.shape) * cell * (0.5 + p["jitter"] * 2)
    sx = sx + rng.uniform(-0.5, 0.5, sx.shape) * cell * (0.5 + p["jitter"] * 2)
    sy = np.clip(np.round(sy), 0, h - 1).astype(np.int32).ravel()
    sx = np.clip(np.round(sx), 0, w - 1).astype(np.int32).ravel()
    seeds = np.ones((h, w), np.uint8)
    seeds[sy, sx] = 0
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lut_colour = rng.integers(len(pal), size=int(labels.max()) + 1)
    lut_bright = rng.uniform(0.75, 1.15, size=int(labels.max()) + 1).astype(np.float32)
    img = pal[lut_colour[labels]] * lut_bright[labels][..., None]
    # dark borders where the label changes
    edge = np.zeros((h, w), np.float32)
    edge[:, 1:] += labels[:, 1:] != labels[:, :-1]
    edge[1:, :] += labels[1:, :] != labels[:-1, :]
    edge = cv2.GaussianBlur(np.minimum(edge, 1.0), (0, 0), 0.7)
    return img * (1.0 - p["border"] * np.minimum(edge * 1.5, 1.0))[..., None]


def _plaid(rng, h, w, p, pal, scale):
    u, v = _rotated(h, w, p["angle"])
    a = ((u / (p["period_a"] * scale) + rng.uniform()) % 1.0) < p["duty"]
    b = ((v / (p["period_b"] * scale) + rng.uniform()) % 1.0) < p["duty"]
    field = 0.5 * (a.astype(np.float32) + b.astype(np.float32))
    return colorize(cv2.GaussianBlur(field, (0, 0), 0.6), pal)


def _marble(rng, h, w, p, pal, scale):
    u, _ = _rotated(h, w, p["angle"])
    turb = value_noise(rng, h, w, 0.6 * scale, 3)
    phase = 2 * math.pi * (u / (p["period"] * scale) + p["turbulence"] * turb)
    field = np.abs(np.sin(phase)) ** (1.0 / p["vein"] * 4.0)
    return colorize(field, pal)


def _dots(rng, h, w, p, pal, scale):
    u, v = _rotated(h, w, p["angle"])
    sp = max(p["spacing"] * scale, 3.0)
    off = rng.uniform(0, sp, 2)
    du = ((u + off[0]) % sp) / sp - 0.5
    dv = ((v + off[1]) % sp) / sp - 0.5
    d = np.sqrt(du ** 2 + dv ** 2)
    # antialiased disc edge about one pixel wide
    field = np.clip((p["radius"] - d) * sp + 0.5, 0.0, 1.0)
    return colorize(field, pal)


_GENERATORS: Dict[str, Callable] = {
    "blobs": _blobs, "stripes": _stripes, "checker": _checker, "spots": _spots,
    "speckle_gradient": _speckle_gradient, "rings": _rings, "cells": _cells, "plaid": _plaid,
    "marble": _marble, "dots": _dots,
}


def render_texture(spec: TextureSpec, height: int, width: int, rng: np.random.Generator,
                   scale: Optional[float] = None, downsample: int = 1) -> np.ndarray:
    """Pixels of a texture: float32 (height, width, 3) RGB in [0, 1].

    Args:
        spec: what to draw.
        rng: source of the texture's own noise (seed it for reproducible pixels).
        scale: reference length in pixels for the spec's relative lengths; default min(H, W).
        downsample: render at 1/downsample of the size and upsample (faster, slightly soft).
    """
    if scale is None:
        scale = float(min(height, width))
    if downsample > 1:
        # coarse textures (backgrounds) lose nothing visible at a lower resolution
        small_h, small_w = max(2, int(math.ceil(height / downsample))), max(2, int(math.ceil(width / downsample)))
        small = render_texture(spec, small_h, small_w, rng, scale * small_w / width)
        return cv2.resize(small, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    img = _GENERATORS[spec.family](rng, int(height), int(width), dict(spec.params), spec.palette_array(),
                                   float(scale))
    return np.clip(img, 0.0, 1.0).astype(np.float32, copy=False)
