"""Procedurally generated tracking videos: the default data that needs no download.

A video is a textured target moving smoothly (speed changes, scale and aspect change) over a
textured, panning background with static clutter, 1-3 look-alike distractors (same texture
family, perturbed colours and parameters), occluders that pass in front of the target and
hide it completely for a few frames, and moments where the target leaves the image partly or
fully. Everything is deterministic per seed and needs no files.

Generation has two stages. :func:`generate_video` computes the whole plan at once (all
trajectories, boxes, visibility and attributes; about a millisecond); pixels are rendered only
for the frames asked for (:meth:`SyntheticVideo.render_frame`), so a sampler that needs three
frames of a long video pays for three frames. Rendering a frame depends only on the plan and the
frame index, so any subset renders identically to the same frames of a full render.

Box conventions (all ``xywh`` in pixels, float32):

* :attr:`SyntheticVideo.boxes` is the full extent of the target, which may reach beyond the
  image when the target is partly or fully out of view;
* :meth:`SyntheticVideo.clipped_boxes` clips it to the image, as GOT-10k annotates; a target fully
  outside the image gets a zero-size box on the image border. The dataset and the GOT-10k writer
  use the clipped boxes.

Visibility: ``visible_ratio`` is the fraction of the target's shape that is inside the image and
not hidden by an occluder or a distractor in front of it. ``visible`` is ``visible_ratio >= 0.05``
(slivers below 5 % count as absent). ``cover`` follows GOT-10k's cover.label: 0 absent, 1-7 for
ratios in ((k-1)/8, k/8] (ratios above 7/8 but not complete map to 7), 8 fully visible.

Train and test use disjoint seeds (:func:`video_seed`) and disjoint texture families
(:mod:`ltr.dataset.synthetic_textures`), so test appearance never occurs in training.
"""
from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from scipy.interpolate import CubicSpline

from ._common import masks_for_frames
from .base_video_dataset import BaseVideoDataset
from .synthetic_textures import (TextureSpec, perturb_texture_spec, render_texture, sample_texture_spec,
                                 texture_families)

#: Splits and the code that keeps their seeds disjoint.
SPLIT_CODES: Dict[str, int] = {"train": 0, "val": 1, "test": 2}

#: Minimum visible fraction for a frame to count as visible (cover > 0).
VISIBLE_MIN = 0.05

# Seed streams of one video; each part draws from its own stream so that changing how one part
# is generated never changes the others, and lazily rendered pixels do not depend on call order.
_STREAM_CLASS, _STREAM_PLAN, _STREAM_PIXELS = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Difficulty knobs of the synthetic videos.

    Lengths and speeds are fractions of the image's shorter side ``S`` so a config means the
    same at every image size (0.02 of 128 px is 2.6 px). Rates are expected events per 50 frames.
    """

    image_size: Tuple[int, int] = (128, 128)
    """(height, width) in pixels."""
    num_frames: int = 48
    texture_set: Optional[str] = None
    """'train' or 'test' texture families; None: 'train' for the train split, 'test' otherwise."""
    target_size: Tuple[float, float] = (0.12, 0.28)
    """Range of the target's mean size sqrt(w * h), fraction of S."""
    aspect_range: Tuple[float, float] = (0.5, 2.0)
    """Range of the target's mean aspect ratio w / h."""
    speed: float = 0.02
    """Mean target speed, fraction of S per frame."""
    speed_variation: float = 0.6
    """Log-normal spread of the speed between waypoints (0: constant speed)."""
    scale_change: float = 0.35
    """Largest |log| deviation of the target size from its mean."""
    aspect_change: float = 0.2
    """Largest |log| deviation of the aspect ratio from its mean."""
    num_distractors: Tuple[int, int] = (1, 3)
    """Inclusive range of look-alike distractors per video."""
    distractor_similarity: float = 0.75
    """1: distractors look like the target up to texture noise; 0: same family, any colours."""
    distractor_near_prob: float = 0.7
    """Probability that a distractor's path passes close to the target."""
    distractor_front_prob: float = 0.25
    """Probability that a distractor moves in front of the target (may occlude it partly)."""
    occlusion_rate: float = 0.6
    """Expected full occlusions by a passing occluder per 50 frames."""
    occlusion_length: Tuple[int, int] = (2, 6)
    """Inclusive range of frames an occlusion fully hides the target."""
    out_of_view_rate: float = 0.3
    """Expected out-of-view moments per 50 frames (the target leaves the image partly or fully)."""
    camera_motion_prob: float = 0.6
    """Probability that the camera pans (the background shifts)."""
    camera_speed: float = 0.012
    """Mean pan speed, fraction of S per frame."""
    camera_range: float = 0.3
    """Largest pan offset from the start, fraction of S."""
    num_clutter: Tuple[int, int] = (2, 6)
    """Inclusive range of static textured shapes painted on the background."""
    illumination_change: float = 0.12
    """Largest |log| deviation of the global brightness."""
    noise_std: float = 2.0
    """Sensor noise standard deviation in grey levels (0-255)."""

    def __post_init__(self) -> None:
        h, w = self.image_size
        if h < 16 or w < 16:
            raise ValueError(f"image_size must be at least 16x16, got {self.image_size}")
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be at least 2, got {self.num_frames}")
        if self.texture_set not in (None, "train", "test"):
            raise ValueError(f"texture_set must be 'train', 'test' or None, got {self.texture_set!r}")
        lo, hi = self.num_distractors
        if not 0 <= lo <= hi:
            raise ValueError(f"num_distractors must be an inclusive range 0 <= lo <= hi, got {self.num_distractors}")
        lo, hi = self.occlusion_length
        if not 1 <= lo <= hi:
            raise ValueError(f"occlusion_length must be an inclusive range 1 <= lo <= hi, got {self.occlusion_length}")
        if not 0 < self.target_size[0] <= self.target_size[1] < 0.8:
            raise ValueError(f"target_size must be a range inside (0, 0.8), got {self.target_size}")

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "SyntheticConfig":
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def default_texture_set(split: str) -> str:
    """Texture set used by a split: 'train' for train, 'test' (unseen appearance) for val and test."""
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(SPLIT_CODES)}, got {split!r}")
    return "train" if split == "train" else "test"


def video_seed(split: str, seed: int, index: int) -> int:
    """Seed of video ``index`` of a split; disjoint between splits, base seeds and indices.

    The split code, the base seed (< 2**24) and the index (< 2**40) occupy separate bit ranges,
    so two different triples can never give the same video seed.
    """
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(SPLIT_CODES)}, got {split!r}")
    if not 0 <= seed < 2 ** 24:
        raise ValueError(f"seed must be in [0, 2**24), got {seed}")
    if not 0 <= index < 2 ** 40:
        raise ValueError(f"index must be in [0, 2**40), got {index}")
    return (((SPLIT_CODES[split] << 24) | seed) << 40) | index


def cover_from_ratio(visible_ratio: np.ndarray) -> np.ndarray:
    """GOT-10k cover levels (int 0..8) from visible fractions in [0, 1]."""
    r = np.asarray(visible_ratio, dtype=np.float64)
    cover = np.clip(np.ceil(r * 8 - 1e-9), 1, 7).astype(np.int64)
    cover[r < VISIBLE_MIN] = 0
    cover[r >= 0.999] = 8
    return cover


def _rng(seed: int, stream: int, *sub: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(stream,) + tuple(sub)))


def _resolve_texture_set(config: SyntheticConfig) -> str:
    return config.texture_set if config.texture_set is not None else "train"


def target_class(seed: int, config: Optional[SyntheticConfig] = None) -> str:
    """Texture family of the target of video ``seed`` (its class), without planning the video."""
    families = texture_families(_resolve_texture_set(config or SyntheticConfig()))
    return families[int(_rng(seed, _STREAM_CLASS).integers(len(families)))]


# ----------------------------------------------------------------------------------------------
# geometry helpers
# ----------------------------------------------------------------------------------------------

def _smooth_curve(rng: np.random.Generator, n: int, amplitude: float, spacing: float) -> np.ndarray:
    """Smooth random curve (n,) within [-amplitude, amplitude], knots every ``spacing`` frames."""
    if amplitude <= 0:
        return np.zeros(n)
    k = int(math.ceil((n - 1) / spacing)) + 2
    knots = np.arange(k) * spacing - rng.uniform(0, spacing)
    values = rng.uniform(-amplitude, amplitude, k)
    return np.clip(CubicSpline(knots, values)(np.arange(n)), -amplitude, amplitude)


def _superellipse_alpha(height: int, width: int, exponent: float) -> Tuple[np.ndarray, np.ndarray]:
    """Antialiased mask (H, W) of |u|^p + |v|^p <= 1 over the patch, and the normalised radius."""
    v = (np.arange(height, dtype=np.float32) + 0.5) / height * 2 - 1
    u = (np.arange(width, dtype=np.float32) + 0.5) / width * 2 - 1
    d = (np.abs(u)[None, :] ** exponent + np.abs(v)[:, None] ** exponent) ** (1.0 / exponent)
    # about one texture pixel of soft edge
    alpha = np.clip((1.0 - d) * 0.5 * min(height, width) + 0.5, 0.0, 1.0)
    return alpha.astype(np.float32), d.astype(np.float32)


def _shape_points(exponent: float, grid: int = 12) -> np.ndarray:
    """Sample points (P, 2) in [-1, 1]^2 inside the superellipse, used to measure visibility."""
    c = (np.arange(grid) + 0.5) / grid * 2 - 1
    u, v = np.meshgrid(c, c)
    inside = np.abs(u) ** exponent + np.abs(v) ** exponent <= 1.0
    return np.stack([u[inside], v[inside]], axis=1)


def _inside(px: np.ndarray, py: np.ndarray, layer: "_Layer") -> np.ndarray:
    """Which points (N, P) lie inside the layer's shape in each frame."""
    u = (px - layer.cx[:, None]) / (0.5 * layer.w[:, None])
    v = (py - layer.cy[:, None]) / (0.5 * layer.h[:, None])
    p = layer.exponent
    return np.abs(u) ** p + np.abs(v) ** p <= 1.0


@dataclasses.dataclass
class _Layer:
    """One moving object: per-frame centre and size (pixels), shape and appearance."""

    kind: str  # 'target', 'distractor' or 'occluder'
    cx: np.ndarray
    cy: np.ndarray
    w: np.ndarray
    h: np.ndarray
    exponent: float
    texture: TextureSpec
    depth: int  # drawing order; larger is nearer the camera
    rim: float = 0.25  # darkening towards the edge so objects read as objects

    def boxes(self) -> np.ndarray:
        return np.stack([self.cx - self.w / 2, self.cy - self.h / 2, self.w, self.h], axis=1)


@dataclasses.dataclass
class _Clutter:
    """A static textured shape painted on the background canvas."""

    x: float
    y: float
    w: float
    h: float
    exponent: float
    texture: TextureSpec


# ----------------------------------------------------------------------------------------------
# the video
# ----------------------------------------------------------------------------------------------

class SyntheticVideo:
    """A planned synthetic video; frames are rendered on demand.

    Attributes:
        seed: the video's seed.
        config: the config it was generated with (texture_set resolved).
        object_class: texture family of the target.
        boxes: (N, 4) float32 xywh pixels, full target extent (may leave the image).
        visible: (N,) bool, at least 5 % of the target visible.
        visible_ratio: (N,) float32, fraction of the target inside the image and not hidden.
        in_image_ratio: (N,) float32, fraction of the target inside the image.
        cover: (N,) int64, GOT-10k cover level 0..8.
        attributes: per-video flags {name: bool}.
        frame_attributes: per-frame flags {name: (N,) bool}.
        textures: the texture specs used, {'target', 'distractors', 'occluders', 'background', 'clutter'}.
    """

    def __init__(self, seed: int, config: SyntheticConfig, layers: List[_Layer], clutter: List[_Clutter],
                 background: TextureSpec, camera: np.ndarray, gain: np.ndarray, noise_offsets: np.ndarray,
                 canvas_size: Tuple[int, int]):
        self.seed = seed
        self.config = config
        self.image_size = tuple(config.image_size)
        self.num_frames = config.num_frames
        self._layers = sorted(layers, key=lambda layer: layer.depth)
        self._clutter = clutter
        self._background = background
        self._camera = camera
        self._gain = gain.astype(np.float32)
        self._noise_offsets = noise_offsets
        self._canvas_size = canvas_size
        self._assets: Optional[Dict[str, Any]] = None
        self._all_frames: Optional[np.ndarray] = None

        target = self._target
        self.object_class = target.texture.family
        self.boxes = target.boxes().astype(np.float32)
        self._measure_visibility()
        self._compute_attributes()

    # ---- plan-level information --------------------------------------------------------------

    @property
    def _target(self) -> _Layer:
        return next(layer for layer in self._layers if layer.kind == "target")

    @property
    def textures(self) -> Dict[str, Any]:
        return {
            "target": self._target.texture,
            "distractors": [la.texture for la in self._layers if la.kind == "distractor"],
            "occluders": [la.texture for la in self._layers if la.kind == "occluder"],
            "background": self._background,
            "clutter": [c.texture for c in self._clutter],
        }

    @property
    def object_shape(self) -> str:
        """Shape of the target: 'ellipse', 'squircle', 'rounded_box' or 'box'."""
        p = self._target.exponent
        return "ellipse" if p <= 2 else "squircle" if p <= 3 else "rounded_box" if p <= 5 else "box"

    @property
    def mean_speed(self) -> float:
        """Mean target centre displacement per frame in pixels."""
        t = self._target
        return float(np.mean(np.hypot(np.diff(t.cx), np.diff(t.cy))))

    @property
    def num_distractors(self) -> int:
        return sum(layer.kind == "distractor" for layer in self._layers)

    def clipped_boxes(self) -> np.ndarray:
        """(N, 4) float32 xywh boxes clipped to the image (GOT-10k style; zero size when fully out)."""
        h, w = self.image_size
        x1 = np.clip(self.boxes[:, 0], 0, w)
        y1 = np.clip(self.boxes[:, 1], 0, h)
        x2 = np.clip(self.boxes[:, 0] + self.boxes[:, 2], 0, w)
        y2 = np.clip(self.boxes[:, 1] + self.boxes[:, 3], 0, h)
        return np.stack([x1, y1, x2 - x1, y2 - y1], axis=1).astype(np.float32)

    def _measure_visibility(self) -> None:
        target = self._target
        h, w = self.image_size
        pts = _shape_points(target.exponent)
        px = target.cx[:, None] + pts[None, :, 0] * target.w[:, None] / 2
        py = target.cy[:, None] + pts[None, :, 1] * target.h[:, None] / 2
        in_image = (px >= 0) & (px < w) & (py >= 0) & (py < h)
        hidden = np.zeros_like(in_image)
        for layer in self._layers:
            if layer.depth > target.depth:
                hidden |= _inside(px, py, layer)
        self.in_image_ratio = in_image.mean(axis=1).astype(np.float32)
        self.visible_ratio = (in_image & ~hidden).mean(axis=1).astype(np.float32)
        self.visible = self.visible_ratio >= VISIBLE_MIN
        self.cover = cover_from_ratio(self.visible_ratio)

    def _compute_attributes(self) -> None:
        h, w = self.image_size
        target = self._target
        size = np.sqrt(target.w * target.h)
        box = self.boxes
        fa: Dict[str, np.ndarray] = {}
        fa["occlusion"] = (self.in_image_ratio - self.visible_ratio) >= 0.1
        fa["full_occlusion"] = (self.visible_ratio < VISIBLE_MIN) & (self.in_image_ratio >= VISIBLE_MIN)
        fa["out_of_view"] = self.in_image_ratio < 0.5
        fa["cut_by_image"] = ((box[:, 0] < 0) | (box[:, 1] < 0) | (box[:, 0] + box[:, 2] > w)
                              | (box[:, 1] + box[:, 3] > h))
        near = np.zeros(self.num_frames, bool)
        for layer in self._layers:
            if layer.kind == "distractor":
                near |= np.hypot(layer.cx - target.cx, layer.cy - target.cy) < 1.5 * size
        fa["distractors"] = near
        step = np.hypot(np.diff(target.cx, prepend=target.cx[0]), np.diff(target.cy, prepend=target.cy[0]))
        fa["fast_motion"] = step > 0.3 * size
        area_ratio = (target.w * target.h) / (target.w[0] * target.h[0])
        fa["scale_change"] = (area_ratio < 0.5) | (area_ratio > 2.0)
        aspect_ratio = (target.w / target.h) / (target.w[0] / target.h[0])
        fa["aspect_change"] = (aspect_ratio < 0.5) | (aspect_ratio > 2.0)
        cam_step = np.hypot(*np.diff(self._camera, axis=0, prepend=self._camera[:1]).T)
        fa["camera_motion"] = cam_step > 0.5
        self.frame_attributes = fa
        self.attributes = {name: bool(flags.any()) for name, flags in fa.items()}

    # ---- rendering ---------------------------------------------------------------------------

    def _build_assets(self) -> Dict[str, Any]:
        """Background canvas and object sprites; drawn once, the first time a frame is rendered."""
        cfg = self.config
        s = float(min(self.image_size))
        ch, cw = self._canvas_size
        rng = _rng(self.seed, _STREAM_PIXELS, 0)
        canvas = render_texture(self._background, ch, cw, rng, scale=s * 0.9, downsample=2)
        # slow illumination gradient over the background
        canvas *= (0.8 + 0.4 * _linear_ramp(rng, ch, cw))[..., None]
        for i, c in enumerate(self._clutter):
            sprite = _make_sprite(c.texture, c.h, c.w, c.exponent, 0.15, _rng(self.seed, _STREAM_PIXELS, 1, i))
            _composite(canvas, sprite, c.x, c.y, c.w, c.h)
        canvas = (np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8)
        # object sprites are drawn when first needed: in a long video most occluders are never on screen
        sprites: List[Optional[np.ndarray]] = [None] * len(self._layers)
        h, w = self.image_size
        noise = None
        if cfg.noise_std > 0:
            noise = (_rng(self.seed, _STREAM_PIXELS, 3).standard_normal((h + 16, w + 16, 3))
                     * (cfg.noise_std / 255.0)).astype(np.float32)
        return {"canvas": canvas, "sprites": sprites, "noise": noise}

    def _sprite_size(self, layer: _Layer) -> Tuple[int, int]:
        """(height, width) of a layer's sprite: the object's largest size, capped (downscaling a
        smooth texture by up to ~2.5x is harmless; long occluder bars are stretched)."""
        th = int(min(math.ceil(layer.h.max()) + 2, 2 * max(self.image_size)))
        tw = int(min(math.ceil(layer.w.max()) + 2, 2 * max(self.image_size)))
        return th, tw

    def _sprite(self, k: int) -> np.ndarray:
        sprites = self._assets["sprites"]
        if sprites[k] is None:
            layer = self._layers[k]
            th, tw = self._sprite_size(layer)
            sprites[k] = _make_sprite(layer.texture, th, tw, layer.exponent, layer.rim,
                                      _rng(self.seed, _STREAM_PIXELS, 2, k))
        return sprites[k]

    def render_frame(self, index: int) -> np.ndarray:
        """Pixels of frame ``index``: (H, W, 3) uint8 RGB."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} out of range for a video of {self.num_frames} frames")
        if self._all_frames is not None:
            return self._all_frames[index].copy()
        if self._assets is None:
            self._assets = self._build_assets()
        assets = self._assets
        h, w = self.image_size
        ox, oy = self._camera[index]
        # getRectSubPix centres use the pixel-centre convention: a patch starting at x0 is centred at x0 + (w-1)/2
        view = cv2.getRectSubPix(assets["canvas"], (w, h), (float(ox) + (w - 1) / 2, float(oy) + (h - 1) / 2))
        frame = view.astype(np.float32) * (1.0 / 255.0)
        for k, layer in enumerate(self._layers):
            x, y = layer.cx[index] - layer.w[index] / 2, layer.cy[index] - layer.h[index] / 2
            if x >= w or y >= h or x + layer.w[index] <= 0 or y + layer.h[index] <= 0:
                continue
            _composite(frame, self._sprite(k), x, y, layer.w[index], layer.h[index])
        frame *= self._gain[index]
        if assets["noise"] is not None:
            nx, ny = self._noise_offsets[index]
            frame += assets["noise"][ny:ny + h, nx:nx + w]
        return (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def render_mask(self, index: int) -> np.ndarray:
        """Visible pixels of the target in frame ``index``: (H, W) uint8 0/1.

        The target's shape drawn where :meth:`render_frame` draws it, less every object in front
        of it (occluders, distractors passing in front) and the part outside the image. A pixel
        is 1 where the target's coverage after those removals is at least one half. Pure geometry:
        it depends only on the plan and the index, never on pixels rendered before.
        """
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} out of range for a video of {self.num_frames} frames")
        h, w = self.image_size
        coverage = np.zeros((h, w), np.float32)
        target = self._target
        target_pos = self._layers.index(target)
        if not _draw_alpha(coverage, target, index, self._sprite_size(target)):
            return coverage.astype(np.uint8)
        for layer in self._layers[target_pos + 1:]:
            front = np.zeros((h, w), np.float32)
            if _draw_alpha(front, layer, index, self._sprite_size(layer)):
                coverage *= 1.0 - front
        return (coverage >= 0.5).astype(np.uint8)

    def render_frames(self, frame_ids: Sequence[int]) -> np.ndarray:
        """Frames ``frame_ids`` as a (K, H, W, 3) uint8 RGB array."""
        h, w = self.image_size
        out = np.empty((len(frame_ids), h, w, 3), np.uint8)
        for k, i in enumerate(frame_ids):
            out[k] = self.render_frame(int(i))
        return out

    @property
    def frames(self) -> np.ndarray:
        """All frames, (N, H, W, 3) uint8 RGB (rendered on first access, then kept)."""
        if self._all_frames is None:
            self._all_frames = self.render_frames(range(self.num_frames))
        return self._all_frames

    def release_pixels(self) -> None:
        """Drop rendered frames and sprites (they are rebuilt identically when needed)."""
        self._assets = None
        self._all_frames = None

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        h, w = self.image_size
        return (f"SyntheticVideo(seed={self.seed}, frames={self.num_frames}, size={h}x{w}, "
                f"class={self.object_class!r}, distractors={self.num_distractors})")


def _linear_ramp(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A [0, 1] linear gradient (H, W) in a random direction."""
    a = rng.uniform(0, 2 * math.pi)
    yy = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    xx = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    return (xx * math.cos(a) + yy * math.sin(a)) / math.sqrt(0.5) + 0.5


def _make_sprite(texture: TextureSpec, height: float, width: float, exponent: float, rim: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Premultiplied RGBA sprite (h, w, 4) float32: textured superellipse with a darker rim."""
    h, w = max(int(math.ceil(height)), 2), max(int(math.ceil(width)), 2)
    rgb = render_texture(texture, h, w, rng, scale=float(min(h, w)))
    alpha, d = _superellipse_alpha(h, w, exponent)
    shade = 1.0 - rim * np.clip((d - 0.6) / 0.4, 0.0, 1.0) ** 2
    return np.concatenate([rgb * (shade * alpha)[..., None], alpha[..., None]], axis=2)


def _draw_alpha(dst: np.ndarray, layer: _Layer, index: int, sprite_size: Tuple[int, int]) -> bool:
    """Write the coverage (alpha) of ``layer`` in frame ``index`` into ``dst`` (H, W float32 zeros).

    The alpha is the one :func:`_make_sprite` builds for a sprite of ``sprite_size``, resampled with
    the map :func:`_composite` uses, so it matches the drawn object pixel for pixel. Returns False
    (``dst`` untouched) when the object is outside the image.
    """
    x, y = layer.cx[index] - layer.w[index] / 2, layer.cy[index] - layer.h[index] / 2
    w, h = float(layer.w[index]), float(layer.h[index])
    dh, dw = dst.shape[:2]
    if x >= dw or y >= dh or x + w <= 0 or y + h <= 0:
        return False
    sh, sw = max(sprite_size[0], 2), max(sprite_size[1], 2)
    alpha, _ = _superellipse_alpha(sh, sw, layer.exponent)
    _composite(dst[..., None], alpha[..., None], x, y, w, h, premultiplied_rgb=False)
    return True


def _composite(dst: np.ndarray, sprite: np.ndarray, x: float, y: float, w: float, h: float,
               premultiplied_rgb: bool = True) -> None:
    """Draw a premultiplied RGBA sprite onto ``dst`` (H, W, 3 float32) so it fills box xywh exactly.

    The sprite is resampled with a sub-pixel affine map into the box's integer bounding region
    only, so the drawn object matches the float box and costs little.
    """
    dh, dw = dst.shape[:2]
    x0, y0 = max(int(math.floor(x)), 0), max(int(math.floor(y)), 0)
    x1, y1 = min(int(math.ceil(x + w)), dw), min(int(math.ceil(y + h)), dh)
    if x1 <= x0 or y1 <= y0 or w <= 0 or h <= 0:
        return
    sh, sw = sprite.shape[:2]
    sx, sy = w / sw, h / sh
    m = np.array([[sx, 0.0, x - x0 + 0.5 * sx - 0.5], [0.0, sy, y - y0 + 0.5 * sy - 0.5]], np.float64)
    patch = cv2.warpAffine(sprite, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    region = dst[y0:y1, x0:x1]
    if not premultiplied_rgb:  # a single alpha channel: coverage, drawn over what is there
        patch = patch.reshape(region.shape)
        region += patch * (1.0 - region)
        return
    region *= 1.0 - patch[..., 3:4]
    region += patch[..., :3]


# ----------------------------------------------------------------------------------------------
# planning
# ----------------------------------------------------------------------------------------------

def _waypoints(rng: np.random.Generator, n: int, start: np.ndarray, speed_px: float, speed_var: float,
               bounds: Tuple[float, float, float, float]) -> Tuple[np.ndarray, np.ndarray]:
    """Random-walk waypoints (times, positions (K, 2)) inside bounds (x0, x1, y0, y1), ending past n-1."""
    x0, x1, y0, y1 = bounds
    times, points = [0], [np.asarray(start, float)]
    heading = rng.uniform(0, 2 * math.pi)
    t = 0
    while t < n - 1:
        dt = int(rng.integers(6, 17))
        heading += rng.normal(0, 0.9)
        speed = speed_px * float(np.clip(math.exp(rng.normal(0, speed_var)), 0.15, 3.5))
        q = points[-1] + speed * dt * np.array([math.cos(heading), math.sin(heading)])
        # reflect off the bounds (and turn the heading) to stay inside
        if q[0] < x0 or q[0] > x1:
            q[0] = 2 * x0 - q[0] if q[0] < x0 else 2 * x1 - q[0]
            heading = math.pi - heading
        if q[1] < y0 or q[1] > y1:
            q[1] = 2 * y0 - q[1] if q[1] < y0 else 2 * y1 - q[1]
            heading = -heading
        q = np.clip(q, [x0, y0], [x1, y1])
        t += dt
        times.append(t)
        points.append(q)
    return np.asarray(times, float), np.asarray(points, float)


def _spline(times: np.ndarray, points: np.ndarray, n: int) -> np.ndarray:
    return CubicSpline(times, points, axis=0, bc_type="natural")(np.arange(n))


def _size_curves(rng: np.random.Generator, n: int, size: float, aspect: float, scale_change: float,
                 aspect_change: float, s: float) -> Tuple[np.ndarray, np.ndarray]:
    log_scale = _smooth_curve(rng, n, scale_change, rng.uniform(14, 26))
    log_aspect = _smooth_curve(rng, n, aspect_change, rng.uniform(14, 26))
    sz = size * np.exp(log_scale)
    asp = aspect * np.exp(log_aspect)
    w = np.clip(sz * np.sqrt(asp), 4.0, 0.8 * s)
    h = np.clip(sz / np.sqrt(asp), 4.0, 0.8 * s)
    return w, h


def _event_times(rng: np.random.Generator, rate: float, n: int, lo: int, hi: int, min_gap: int,
                 cap: int) -> List[int]:
    """Poisson number of event frames in [lo, hi), at least ``min_gap`` apart."""
    if rate <= 0 or hi <= lo:
        return []
    count = min(int(rng.poisson(rate * n / 50.0)), cap)
    times: List[int] = []
    for _ in range(count * 10):
        if len(times) >= count:
            break
        t = int(rng.integers(lo, hi))
        if all(abs(t - u) >= min_gap for u in times):
            times.append(t)
    return sorted(times)


def _plan(seed: int, config: SyntheticConfig) -> SyntheticVideo:
    cfg = config
    texture_set = _resolve_texture_set(cfg)
    n = cfg.num_frames
    H, W = cfg.image_size
    s = float(min(H, W))
    rng = _rng(seed, _STREAM_PLAN)
    family = target_class(seed, cfg)

    # ---- target ----
    target_tex = sample_texture_spec(rng, texture_set, family)
    exponent = float(rng.choice([2.0, 3.0, 5.0, 10.0]))
    size0 = rng.uniform(*cfg.target_size) * s
    aspect0 = math.exp(rng.uniform(math.log(cfg.aspect_range[0]), math.log(cfg.aspect_range[1])))
    tw, th = _size_curves(rng, n, size0, aspect0, cfg.scale_change, cfg.aspect_change, s)
    mx, my = 0.5 * tw.max() + 1, 0.5 * th.max() + 1
    bounds = (mx, max(W - mx, mx + 1), my, max(H - my, my + 1))
    start = np.array([rng.uniform(bounds[0], bounds[1]), rng.uniform(bounds[2], bounds[3])])
    speed_px = cfg.speed * s
    times, points = _waypoints(rng, n, start, speed_px, cfg.speed_variation, bounds)

    # out-of-view: move waypoints near a border beyond it, optionally hold there a few frames
    lo_t = max(4, int(0.15 * n))
    candidates = [k for k in range(1, len(times)) if lo_t <= times[k] < n]
    num_ov = min(int(rng.poisson(cfg.out_of_view_rate * n / 50.0)), max(1, n // 30), len(candidates))
    inserts = []
    # prefer waypoints already close to a border so the exit is not a sudden dash
    candidates.sort(key=lambda k: min(points[k, 0], W - points[k, 0], points[k, 1], H - points[k, 1]))
    for _ in range(num_ov):
        k = candidates.pop(int(rng.integers(min(2, len(candidates)))))
        t = int(times[k])
        x, y = points[k]
        side = int(np.argmin([x, W - x, y, H - y]))
        frac_out = rng.uniform(0.35, 1.4)  # fraction of the target's extent beyond the border
        ext = tw[t] if side < 2 else th[t]
        pos = (0.5 - frac_out) * ext
        coord = [pos, W - pos, pos, H - pos][side]
        points[k, 0 if side < 2 else 1] = coord
        if frac_out >= 1.0 and rng.uniform() < 0.6:
            hold = int(rng.integers(2, 6))
            nxt = times[k + 1] if k + 1 < len(times) else np.inf
            if t + hold < nxt - 2:
                q = points[k].copy()
                q[1 if side < 2 else 0] += rng.normal(0, 0.05 * s)
                inserts.append((t + hold, q))
    if inserts:
        times = np.concatenate([times, [t for t, _ in inserts]])
        points = np.concatenate([points, [q for _, q in inserts]])
        order = np.argsort(times)
        times, points = times[order], points[order]
    centre = _spline(times, points, n)
    target = _Layer("target", centre[:, 0], centre[:, 1], tw, th, exponent, target_tex, depth=10)
    layers = [target]

    # ---- distractors: same family, perturbed look, own paths that often pass close by ----
    lo, hi = cfg.num_distractors
    num_d = int(rng.integers(lo, hi + 1))
    for i in range(num_d):
        tex = perturb_texture_spec(target_tex, rng, 1.0 - cfg.distractor_similarity)
        d_size = size0 * rng.uniform(0.8, 1.25)
        d_aspect = aspect0 * math.exp(rng.normal(0, 0.15))
        dw, dh = _size_curves(rng, n, d_size, d_aspect, 0.7 * cfg.scale_change, 0.7 * cfg.aspect_change, s)
        dmx, dmy = 0.5 * dw.max() + 1, 0.5 * dh.max() + 1
        d_bounds = (dmx, max(W - dmx, dmx + 1), dmy, max(H - dmy, dmy + 1))
        d_start = None
        for _ in range(20):  # start away from the target so the first frame is unambiguous
            d_start = np.array([rng.uniform(d_bounds[0], d_bounds[1]), rng.uniform(d_bounds[2], d_bounds[3])])
            if np.hypot(*(d_start - start)) > 0.6 * (size0 + d_size) + 0.5 * (tw[0] + dw[0]):
                break
        d_times, d_points = _waypoints(rng, n, d_start, speed_px * rng.uniform(0.5, 1.2), cfg.speed_variation,
                                       d_bounds)
        if rng.uniform() < cfg.distractor_near_prob and len(d_times) > 1:
            ks = [k for k in range(1, len(d_times)) if lo_t <= d_times[k] < n]
            if ks:
                k = ks[int(rng.integers(len(ks)))]
                t = int(d_times[k])
                ang = rng.uniform(0, 2 * math.pi)
                dist = rng.uniform(0.7, 1.6) * 0.5 * (size0 + d_size)
                d_points[k] = centre[t] + dist * np.array([math.cos(ang), math.sin(ang)])
        d_centre = _spline(d_times, d_points, n)
        depth = 20 + i if rng.uniform() < cfg.distractor_front_prob else i
        layers.append(_Layer("distractor", d_centre[:, 0], d_centre[:, 1], dw, dh, exponent, tex, depth))

    # ---- occluders: pass in front of the target and hide it fully for a few frames ----
    occ_times = _event_times(rng, cfg.occlusion_rate, n, max(5, int(0.15 * n)), n - 1, 10, max(1, n // 24))
    for j, tc in enumerate(occ_times):
        full = int(rng.integers(cfg.occlusion_length[0], cfg.occlusion_length[1] + 1))
        bar = rng.uniform() < 0.5
        ang = rng.uniform(0, 2 * math.pi)
        u_rel = max(2.0, speed_px * rng.uniform(1.0, 2.5))
        tex = sample_texture_spec(rng, texture_set, saturation=0.45, contrast=0.8)
        for _ in range(3):
            # a target that speeds up along with the occluder would stay hidden far longer than
            # planned; pass faster then, and give up after a few tries
            occluder = _make_occluder(target, tc, full, u_rel, ang, bar, (H, W), tex, 30 + j)
            if occluder is None:
                break
            if _hidden_run(target, occluder, tc) <= cfg.occlusion_length[1] + 2:
                layers.append(occluder)
                break
            u_rel *= 2.0

    # ---- camera, background, clutter, photometric jitter ----
    camera_moves = rng.uniform() < cfg.camera_motion_prob
    amp = cfg.camera_range * s
    pad = int(math.ceil(amp)) + 2
    canvas_size = (H + 2 * pad, W + 2 * pad)
    if camera_moves and amp > 0 and cfg.camera_speed > 0:
        spacing = float(np.clip(2 * amp / (cfg.camera_speed * s), 8, 400))
        camera = np.stack([_smooth_curve(rng, n, amp, spacing), _smooth_curve(rng, n, amp, spacing)], axis=1)
        camera = camera - camera[0] * 0.5  # start near the canvas centre
        camera = np.clip(camera, -amp, amp) + pad
    else:
        camera = np.full((n, 2), float(pad))
    background = sample_texture_spec(rng, texture_set, saturation=0.7, contrast=rng.uniform(0.35, 0.75))
    clutter = []
    lo, hi = cfg.num_clutter
    for _ in range(int(rng.integers(lo, hi + 1))):
        c_size = rng.uniform(0.08, 0.3) * s
        c_aspect = math.exp(rng.uniform(-0.7, 0.7))
        cw_, ch_ = c_size * math.sqrt(c_aspect), c_size / math.sqrt(c_aspect)
        clutter.append(_Clutter(rng.uniform(-cw_ / 2, canvas_size[1] - cw_ / 2),
                                rng.uniform(-ch_ / 2, canvas_size[0] - ch_ / 2), cw_, ch_,
                                float(rng.choice([2.0, 3.0, 5.0, 10.0])),
                                sample_texture_spec(rng, texture_set, contrast=rng.uniform(0.5, 0.9))))
    gain = np.exp(_smooth_curve(rng, n, cfg.illumination_change, 20.0))
    noise_offsets = rng.integers(0, 17, size=(n, 2))

    video = SyntheticVideo(seed, dataclasses.replace(cfg, texture_set=texture_set), layers, clutter, background,
                           camera, gain, noise_offsets, canvas_size)
    # the first frame must show the whole target (it initialises trackers): anything in front of
    # it there is moved behind it (distractors) or dropped (occluders)
    if video.visible_ratio[0] < 0.999 or video.visible_ratio[1] < 0.5:
        fixed = []
        for layer in layers:
            if layer.depth > target.depth and _overlaps_early(layer, target):
                if layer.kind == "occluder":
                    continue
                layer = dataclasses.replace(layer, depth=layer.depth - 20)
            fixed.append(layer)
        video = SyntheticVideo(seed, dataclasses.replace(cfg, texture_set=texture_set), fixed, clutter,
                               background, camera, gain, noise_offsets, canvas_size)
    return video


def _make_occluder(target: _Layer, tc: int, full: int, u_rel: float, ang: float, bar: bool,
                   image_size: Tuple[int, int], texture: TextureSpec, depth: int) -> Optional[_Layer]:
    """An occluder that passes the target at frame ``tc`` and covers it fully for about ``full`` frames.

    It moves at constant velocity: the target's velocity at ``tc`` plus ``u_rel`` pixels per frame
    in direction ``ang``. A bar is a pole (moving along x) or a beam (moving along y) spanning the
    image. Returns None when the target moves too erratically to be covered by a sensible shape.
    """
    H, W = image_size
    n = len(target.cx)
    centre = np.stack([target.cx, target.cy], axis=1)
    win = np.arange(max(0, tc - (full - 1) // 2), min(n, tc + full // 2 + 1))  # `full` frames around tc
    vt = (centre[min(tc + 1, n - 1)] - centre[max(tc - 1, 0)]) / 2.0
    axis = 0 if abs(math.cos(ang)) >= abs(math.sin(ang)) else 1
    if bar:
        vo = np.zeros(2)
        direction = (math.cos(ang), math.sin(ang))[axis]  # the dominant component of the direction
        vo[axis] = vt[axis] + u_rel * math.copysign(1.0, direction)
    else:
        vo = vt + u_rel * np.array([math.cos(ang), math.sin(ang)])
    oc = centre[tc][None, :] + vo[None, :] * (np.arange(n) - tc)[:, None]
    # size the occluder so the target's extent stays inside it over the whole window
    rel = centre[win] - oc[win]
    ow = 2 * np.max(np.abs(rel[:, 0]) + 0.53 * target.w[win]) + 1
    oh = 2 * np.max(np.abs(rel[:, 1]) + 0.53 * target.h[win]) + 1
    if bar and axis == 0:
        oh = 3.0 * H
        oc[:, 1] = H / 2.0
    elif bar:
        ow = 3.0 * W
        oc[:, 0] = W / 2.0
    if min(ow, oh) > 0.8 * min(H, W):
        return None
    return _Layer("occluder", oc[:, 0], oc[:, 1], np.full(n, ow), np.full(n, oh), 8.0, texture, depth, rim=0.15)


def _hidden_run(target: _Layer, occluder: _Layer, tc: int) -> int:
    """Length of the run of frames around ``tc`` in which ``occluder`` hides (nearly) all of the target."""
    pts = _shape_points(target.exponent, grid=8)
    px = target.cx[:, None] + pts[None, :, 0] * target.w[:, None] / 2
    py = target.cy[:, None] + pts[None, :, 1] * target.h[:, None] / 2
    hidden = _inside(px, py, occluder).mean(axis=1) >= 1.0 - VISIBLE_MIN
    if not hidden[tc]:
        return 0
    lo, hi = tc, tc
    while lo > 0 and hidden[lo - 1]:
        lo -= 1
    while hi < len(hidden) - 1 and hidden[hi + 1]:
        hi += 1
    return hi - lo + 1


def _overlaps_early(layer: _Layer, target: _Layer, frames: int = 2) -> bool:
    for t in range(min(frames, len(layer.cx))):
        if (abs(layer.cx[t] - target.cx[t]) < 0.5 * (layer.w[t] + target.w[t])
                and abs(layer.cy[t] - target.cy[t]) < 0.5 * (layer.h[t] + target.h[t])):
            return True
    return False


def generate_video(seed: int, config: Optional[SyntheticConfig] = None) -> SyntheticVideo:
    """Plan synthetic video ``seed`` (trajectories, boxes, visibility, attributes); frames render lazily.

    Args:
        seed: any non-negative integer; the same seed and config always give the same video.
        config: difficulty knobs; default :class:`SyntheticConfig` with the 'train' textures.
    Returns:
        the :class:`SyntheticVideo`; ``video.frames`` renders all frames, ``video.render_frame(i)`` one.
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return _plan(int(seed), config or SyntheticConfig())


# ----------------------------------------------------------------------------------------------
# dataset
# ----------------------------------------------------------------------------------------------

class SyntheticVideoDataset(BaseVideoDataset):
    """Synthetic tracking videos as a training dataset (no files).

    ``split='train'`` with ``num_sequences=None`` is an unbounded stream: it reports
    :attr:`STREAM_LENGTH` sequences and every sequence id is a distinct, freshly generated video,
    so a small model cannot memorise the training set. With ``num_sequences`` the dataset is a
    fixed list of videos; val and test default to :attr:`DEFAULT_EVAL_SIZE` videos. Video ``i`` of
    a split is the same video the GOT-10k writer stores as sequence ``i + 1``.

    Boxes are clipped to the image (GOT-10k style) unless ``clip_boxes=False``. Each worker process
    keeps its own small cache of planned videos, so the dataset is safe in DataLoader workers.
    """

    STREAM_LENGTH = 1_000_000
    DEFAULT_EVAL_SIZE = 100

    def __init__(self, split: str = "train", num_sequences: Optional[int] = None, seed: int = 0,
                 config: Optional[SyntheticConfig] = None, cache_size: int = 16, clip_boxes: bool = True):
        if split not in SPLIT_CODES:
            raise ValueError(f"split must be one of {sorted(SPLIT_CODES)}, got {split!r}")
        super().__init__(f"synthetic_{split}", root=None)
        config = config or SyntheticConfig()
        if config.texture_set is None:
            config = dataclasses.replace(config, texture_set=default_texture_set(split))
        self.split = split
        self.seed = int(seed)
        self.config = config
        self.clip_boxes = clip_boxes
        self.is_stream = num_sequences is None and split == "train"
        if num_sequences is None and not self.is_stream:
            num_sequences = self.DEFAULT_EVAL_SIZE
        if num_sequences is not None and num_sequences < 1:
            raise ValueError(f"num_sequences must be positive or None, got {num_sequences}")
        self._num = self.STREAM_LENGTH if self.is_stream else int(num_sequences)
        video_seed(split, self.seed, 0)  # validates the seed range early
        # a stream has a million virtual names; build them on demand instead
        self.sequence_list = [] if self.is_stream else [self.get_sequence_name(i) for i in range(self._num)]
        self.class_list = list(texture_families(config.texture_set))
        self._cache_size = max(1, int(cache_size))
        self._cache: "collections.OrderedDict[int, SyntheticVideo]" = collections.OrderedDict()

    # ---- identity ----
    def get_name(self) -> str:
        return self.name

    def is_synthetic_video_dataset(self) -> bool:
        return True

    def has_class_info(self) -> bool:
        return True

    def has_occlusion_info(self) -> bool:
        return True

    def has_mask(self) -> bool:
        """Every frame has a mask of the target's visible pixels (``anno['mask']``, :meth:`get_frame_mask`)."""
        return True

    def get_num_sequences(self) -> int:
        return self._num

    def get_sequence_name(self, seq_id: int) -> str:
        """GOT-10k style name, e.g. ``Synthetic_Test_000001`` for seq_id 0."""
        return sequence_name(self.split, seq_id)

    def sequence_seed(self, seq_id: int) -> int:
        """Seed of the video behind ``seq_id``."""
        self._check_id(seq_id)
        return video_seed(self.split, self.seed, int(seq_id))

    def _check_id(self, seq_id: int) -> None:
        if not 0 <= int(seq_id) < self._num:
            raise IndexError(f"{self.name}: sequence id {seq_id} out of range [0, {self._num})")

    def get_video(self, seq_id: int) -> SyntheticVideo:
        """The planned video of ``seq_id`` (cached; frames render lazily)."""
        seq_id = int(seq_id)
        video = self._cache.get(seq_id)
        if video is not None:
            self._cache.move_to_end(seq_id)
            return video
        video = generate_video(self.sequence_seed(seq_id), self.config)
        self._cache[seq_id] = video
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return video

    # ---- classes ----
    def get_class_name(self, seq_id: int) -> str:
        return target_class(self.sequence_seed(seq_id), self.config)

    def get_sequences_in_class(self, class_name: str) -> List[int]:
        if self.is_stream:
            raise ValueError(f"{self.name} is an unbounded stream; pass num_sequences to index it by class")
        return [i for i in range(self._num) if self.get_class_name(i) == class_name]

    # ---- annotations and frames ----
    def get_frame_mask(self, seq_id: int, frame_id: int) -> np.ndarray:
        """(H, W) uint8 0/1 mask of the target's visible pixels in one frame (occluders and
        distractors in front removed); see :meth:`SyntheticVideo.render_mask`."""
        return self.get_video(seq_id).render_mask(int(frame_id))

    def get_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        video = self.get_video(seq_id)
        boxes = video.clipped_boxes() if self.clip_boxes else video.boxes
        bbox = torch.from_numpy(boxes.copy())
        valid = (bbox[:, 2] > 0) & (bbox[:, 3] > 0)
        visible = torch.from_numpy(video.visible.copy()) & valid
        return {"bbox": bbox, "valid": valid, "visible": visible,
                "visible_ratio": torch.from_numpy(video.visible_ratio.copy())}

    def get_frames(self, seq_id: int, frame_ids: Sequence[int],
                   anno: Optional[Dict[str, torch.Tensor]] = None) -> Tuple[list, Dict[str, list], Dict[str, Any]]:
        video = self.get_video(seq_id)
        frames = [video.render_frame(int(f)) for f in frame_ids]
        if anno is None:
            anno = self.get_sequence_info(seq_id)
        anno_frames = {key: [value[int(f), ...].clone() for f in frame_ids] for key, value in anno.items()}
        anno_frames["mask"] = masks_for_frames(self.get_frame_mask, seq_id, [int(f) for f in frame_ids])
        meta = {"object_class_name": video.object_class, "motion_class": None, "major_class": "synthetic",
                "root_class": None, "motion_adverb": None, "seed": video.seed,
                "attributes": dict(video.attributes)}
        return frames, anno_frames, meta


def sequence_name(split: str, index: int) -> str:
    """Name of video ``index`` (0-based) of a split: ``Synthetic_<Split>_<index+1:06d>``."""
    return f"Synthetic_{split.capitalize()}_{int(index) + 1:06d}"
