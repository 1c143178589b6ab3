"""Tracking metrics under three conventions, vectorised over whole datasets.

All boxes are ``xywh`` in pixels (top-left x, y, width, height), one row per frame.
Every protocol function takes per-sequence lists of predictions and ground truth, concatenates
them (in blocks of about 32k frames) into flat arrays and computes per-frame errors with array
operations; per-sequence curves come from one ``searchsorted`` + ``bincount`` per curve instead
of a loop over thresholds or frames.

Protocols
---------
``pytracking`` (pytracking's ``extract_results``; AUC / Precision / NormPrecision):
    * frame 0's prediction is replaced by the ground truth;
    * a prediction with zero width or height (negative ones are treated as zero here) is
      replaced by the previous frame's (already replaced) prediction; frame 0's *original*
      prediction is what frame 1 inherits (NaN ground truth is an error here, as in pytracking);
    * ground truth is valid when w > 0 and h > 0 (and, where given, the target is visible);
    * IoU with the inclusive pixel convention (x2 = x + w - 1, intersection side + 1, union from
      w*h) -- the +1 and -1 cancel, so this is the same IoU as with x2 = x + w; centre =
      xy + (wh - 1) / 2; normalised centre error divides both centres by the ground-truth wh;
    * invalid frames: IoU -1 (never a success), centre error inf (never), normalised centre
      error -1 (always a success!) except on LaSOT, where invisible frames get inf for both
      centre errors;
    * success(t) = #(IoU > t), precision(t) = #(err <= t); divided by all frames on LaSOT,
      by the valid frames elsewhere; per-sequence curves are averaged over sequences;
    * thresholds: IoU 0:0.05:1 (21), centre 0..50 px, normalised 0..0.5 step 0.01; AUC = mean
      of the success curve, Precision at 20 px, NormPrecision at 0.2, OP50/OP75 at IoU 0.5/0.75.

``got10k`` (the GOT-10k toolkit's ``ExperimentGOT10k.report``; AO / SR50 / SR75):
    * frame 0 is skipped; where cover labels exist frames with cover == 0 are dropped;
    * both boxes are clipped to the image: x into [0, W], w into [0, W - x] (likewise y, h);
    * IoU = intersection / (union + eps) with x2 = x + w, clipped to [0, 1];
    * IoUs of all frames of all sequences are pooled (longer sequences weigh more);
      AO = mean IoU, SR_t = fraction with IoU > t.

``pysot`` (pysot-toolkit's ``OPEBenchmark``; Success AUC / Precision / NormPrecision):
    * predictions are used as written (frame 0 included, no replacement);
    * on LaSOT frames with an invisible target are dropped but still counted in the divisor;
    * IoU with x2 = x + w (no eps), -1 where the ground truth has w <= 0 or h <= 0;
    * centre = xy + (wh - 1) / 2; the error is set to -1 (a hit at every threshold) when a
      ground-truth centre coordinate is <= 0;
    * per-sequence curves (21 IoU thresholds, 0..50 px, 0..0.5 normalised) averaged over sequences.

``frame_interval`` I > 1 evaluates frames 0, I, 2I, ... only; predictions may then hold either
one box per frame (they are subsampled) or one box per evaluated frame.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Optional, Sequence as SequenceT, Tuple, Union

import numpy as np

#: IoU thresholds of success plots (pytracking and pysot): 0, 0.05, ..., 1.0 (float64, 21 values).
OVERLAP_THRESHOLDS = np.arange(0.0, 1.0 + 0.05, 0.05)
#: Centre-error thresholds in pixels: 0, 1, ..., 50.
CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
#: Normalised centre-error thresholds: 0, 0.01, ..., 0.5.
NORM_CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
#: Index of the 20 px (and 0.2 normalised) threshold: the reported precision scores.
PRECISION_INDEX = 20
#: Thresholds of the GOT-10k toolkit's success curve (101 values).
GOT10K_CURVE_THRESHOLDS = np.linspace(0.0, 1.0, 101)

_EPS = np.finfo(float).eps

ArrayList = SequenceT[np.ndarray]


# --------------------------------------------------------------------------------------------
# Per-frame box measures
#
# The public helpers take (N, 4) xywh arrays. Internally boxes are kept as (4, F) "column"
# arrays (rows x, y, w, h), so that every elementwise operation streams over contiguous memory;
# at LaSOT scale (700k frames) that is several times faster than strided column access.
# --------------------------------------------------------------------------------------------

def _iou_inclusive_cols(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    px2, py2 = p[0] + p[2] - 1.0, p[1] + p[3] - 1.0
    gx2, gy2 = g[0] + g[2] - 1.0, g[1] + g[3] - 1.0
    side_w = np.minimum(px2, gx2) - np.maximum(p[0], g[0]) + 1.0
    side_h = np.minimum(py2, gy2) - np.maximum(p[1], g[1]) + 1.0
    inter = np.maximum(side_w, 0.0) * np.maximum(side_h, 0.0)
    union = p[2] * p[3] + g[2] * g[3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def _center_error_inclusive_cols(p: np.ndarray, g: np.ndarray, normalized: bool) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dx = (p[0] + 0.5 * (p[2] - 1.0))
        dy = (p[1] + 0.5 * (p[3] - 1.0))
        gx = (g[0] + 0.5 * (g[2] - 1.0))
        gy = (g[1] + 0.5 * (g[3] - 1.0))
        if normalized:
            # Both centres are divided before subtracting, exactly as pytracking does.
            dx, gx = dx / g[2], gx / g[2]
            dy, gy = dy / g[3], gy / g[3]
        dx = dx - gx
        dy = dy - gy
        return np.sqrt(dx * dx + dy * dy)


def _clip_cols(b: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    out = np.empty_like(b, dtype=np.float64)
    np.clip(b[0], 0.0, width, out=out[0])
    np.clip(b[1], 0.0, height, out=out[1])
    np.clip(b[2], 0.0, width - out[0], out=out[2])
    np.clip(b[3], 0.0, height - out[1], out=out[3])
    return out


def _iou_got10k_cols(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    w = np.minimum(p[0] + p[2], g[0] + g[2]) - np.maximum(p[0], g[0])
    h = np.minimum(p[1] + p[3], g[1] + g[3]) - np.maximum(p[1], g[1])
    inter = np.maximum(w, 0.0) * np.maximum(h, 0.0)
    union = p[2] * p[3] + g[2] * g[3] - inter
    return np.clip(inter / (union + _EPS), 0.0, 1.0)


def _iou_pysot_cols(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    w = np.minimum(p[0] + p[2], g[0] + g[2]) - np.maximum(p[0], g[0])
    h = np.minimum(p[1] + p[3], g[1] + g[3]) - np.maximum(p[1], g[1])
    inter = np.maximum(0.0, w) * np.maximum(0.0, h)
    union = p[2] * p[3] + g[2] * g[3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(np.minimum(1.0, inter / union), 0.0)


def _cols(boxes_xywh: np.ndarray) -> np.ndarray:
    return np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4).T


def iou_inclusive(pred_xywh: np.ndarray, gt_xywh: np.ndarray) -> np.ndarray:
    """IoU with the inclusive pixel convention (pytracking): x2 = x + w - 1, side = x2 - x1 + 1.

    The union uses w * h of both boxes. Returns NaN where the union is 0.
    """
    return _iou_inclusive_cols(_cols(pred_xywh), _cols(gt_xywh))


def center_error_inclusive(pred_xywh: np.ndarray, gt_xywh: np.ndarray, normalized: bool = False) -> np.ndarray:
    """Euclidean centre distance with centre = xy + (wh - 1) / 2.

    With ``normalized`` both centres are divided by the ground-truth wh first (pytracking's
    normalised precision); inf/NaN where the ground truth has a zero side.
    """
    return _center_error_inclusive_cols(_cols(pred_xywh), _cols(gt_xywh), normalized)


def clip_to_image(boxes_xywh: np.ndarray, image_wh) -> np.ndarray:
    """Clip xywh boxes to the image as the GOT-10k toolkit does; returns a new (N, 4) array.

    x into [0, W], then w into [0, W - x]; likewise y, h. ``image_wh`` is (2,) or (N, 2) = (W, H).
    """
    image_wh = np.asarray(image_wh, dtype=np.float64)
    return _clip_cols(_cols(boxes_xywh), image_wh[..., 0], image_wh[..., 1]).T.copy()


def iou_got10k(pred_xywh: np.ndarray, gt_xywh: np.ndarray, image_wh=None) -> np.ndarray:
    """GOT-10k toolkit IoU: optional clipping to the image (W, H), x2 = x + w, inter / (union + eps),
    clipped to [0, 1]. Unlike the toolkit's ``rect_iou`` the inputs are not modified in place."""
    p, g = _cols(pred_xywh), _cols(gt_xywh)
    if image_wh is not None:
        image_wh = np.asarray(image_wh, dtype=np.float64)
        p = _clip_cols(p, image_wh[..., 0], image_wh[..., 1])
        g = _clip_cols(g, image_wh[..., 0], image_wh[..., 1])
    return _iou_got10k_cols(p, g)


def iou_pysot(pred_xywh: np.ndarray, gt_xywh: np.ndarray) -> np.ndarray:
    """pysot-toolkit IoU: x2 = x + w, inter / union (no eps), clipped to [0, 1]; NaN where union is 0."""
    return _iou_pysot_cols(_cols(pred_xywh), _cols(gt_xywh))


# --------------------------------------------------------------------------------------------
# Flattening and per-sequence counting
# --------------------------------------------------------------------------------------------

def align_prediction(pred_xywh: np.ndarray, num_frames: int, frame_interval: int = 1, name: str = "") -> np.ndarray:
    """Predictions for the evaluated frames 0, I, 2I, ...: subsample a full-length array or accept
    one that already has ceil(N / I) rows. Raises ValueError for any other length."""
    pred_xywh = np.asarray(pred_xywh, dtype=np.float64).reshape(-1, 4)
    if len(pred_xywh) == num_frames:
        return pred_xywh[::frame_interval] if frame_interval > 1 else pred_xywh
    if frame_interval > 1 and len(pred_xywh) == int(math.ceil(num_frames / frame_interval)):
        return pred_xywh
    raise ValueError(f"sequence {name or '?'}: {len(pred_xywh)} predicted boxes for {num_frames} frames "
                     f"(frame interval {frame_interval})")


@dataclasses.dataclass
class _Flat:
    pred: np.ndarray          # (4, F) rows x, y, w, h
    gt: np.ndarray            # (4, F)
    seq_id: np.ndarray        # (F,) int
    lengths: np.ndarray       # (S,) evaluated frames per sequence
    starts: np.ndarray        # (S,) offset of each sequence's first evaluated frame
    names: List[str]


def _names(names: Optional[SequenceT[str]], count: int) -> List[str]:
    return list(names) if names is not None else [f"#{i}" for i in range(count)]


def _flatten(preds: ArrayList, gts: ArrayList, frame_interval: int, names: Optional[SequenceT[str]]) -> _Flat:
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} prediction arrays for {len(gts)} ground-truth arrays")
    if frame_interval < 1:
        raise ValueError(f"frame_interval must be >= 1, got {frame_interval}")
    if len(gts) == 0:
        raise ValueError("no sequences to evaluate")
    names = _names(names, len(gts))
    gt_parts, pred_parts = [], []
    for name, pred, gt in zip(names, preds, gts):
        gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
        if len(gt) == 0:
            raise ValueError(f"sequence {name}: empty ground truth")
        pred_parts.append(align_prediction(pred, len(gt), frame_interval, name).T)
        gt_parts.append(gt[::frame_interval].T)
    lengths = np.array([g.shape[1] for g in gt_parts], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    seq_id = np.repeat(np.arange(len(lengths)), lengths)
    return _Flat(pred=np.concatenate(pred_parts, axis=1), gt=np.concatenate(gt_parts, axis=1),
                 seq_id=seq_id, lengths=lengths, starts=starts, names=names)


def _flat_per_frame(values: Optional[SequenceT[Optional[np.ndarray]]], flat: _Flat, frame_interval: int,
                    default, dtype, what: str) -> Tuple[np.ndarray, np.ndarray]:
    """Concatenate optional per-sequence per-frame arrays; returns (flat values, per-sequence 'given' flags)."""
    count = len(flat.lengths)
    if values is None:
        values = [None] * count
    if len(values) != count:
        raise ValueError(f"{len(values)} {what} arrays for {count} sequences")
    parts, given = [], np.zeros(count, dtype=bool)
    for i, (v, n) in enumerate(zip(values, flat.lengths)):
        if v is None:
            parts.append(np.full(n, default, dtype=dtype))
            continue
        v = np.asarray(v).reshape(-1)[::frame_interval]
        if len(v) != n:
            raise ValueError(f"sequence {flat.names[i]}: {what} does not have one value per frame")
        parts.append(v.astype(dtype, copy=False))
        given[i] = True
    return np.concatenate(parts), given


def _counts_greater(values: np.ndarray, seq_id: np.ndarray, count: int, thresholds: np.ndarray) -> np.ndarray:
    """(S, T) number of frames per sequence with value > threshold[k] (NaN never counts)."""
    t = len(thresholds)
    values = np.where(np.isnan(values), -np.inf, values)
    # searchsorted(..., 'left') = number of thresholds strictly below the value, so
    # value > thr[k]  <=>  k < index.
    index = np.searchsorted(thresholds, values, side="left")
    hist = np.bincount(seq_id * (t + 1) + index, minlength=count * (t + 1)).reshape(count, t + 1)
    at_least = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]
    return at_least[:, 1:]


def _counts_less_equal(values: np.ndarray, seq_id: np.ndarray, count: int, thresholds: np.ndarray) -> np.ndarray:
    """(S, T) number of frames per sequence with value <= threshold[k] (NaN never counts)."""
    t = len(thresholds)
    values = np.where(np.isnan(values), np.inf, values)
    # value <= thr[k]  <=>  k >= searchsorted(thr, value, 'left').
    index = np.searchsorted(thresholds, values, side="left")
    hist = np.bincount(seq_id * (t + 1) + index, minlength=count * (t + 1)).reshape(count, t + 1)
    return np.cumsum(hist, axis=1)[:, :t]


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class CurveSet:
    """Per-sequence success / precision curves (fractions in [0, 1]) of one protocol.

    Attributes:
        protocol: ``'pytracking'`` or ``'pysot'``.
        sequences: sequence names, one per row.
        success: (S, 21) success rate at OVERLAP_THRESHOLDS.
        precision: (S, 51) precision at CENTER_THRESHOLDS (pixels).
        norm_precision: (S, 51) precision at NORM_CENTER_THRESHOLDS.
    """

    protocol: str
    sequences: List[str]
    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray
    overlap_thresholds: np.ndarray = dataclasses.field(default_factory=lambda: OVERLAP_THRESHOLDS.copy())
    center_thresholds: np.ndarray = dataclasses.field(default_factory=lambda: CENTER_THRESHOLDS.copy())
    norm_center_thresholds: np.ndarray = dataclasses.field(default_factory=lambda: NORM_CENTER_THRESHOLDS.copy())

    def success_curve(self) -> np.ndarray:
        """Mean success curve over sequences, in percent."""
        return self.success.mean(axis=0) * 100.0

    def precision_curve(self) -> np.ndarray:
        """Mean precision curve over sequences, in percent."""
        return self.precision.mean(axis=0) * 100.0

    def norm_precision_curve(self) -> np.ndarray:
        """Mean normalised-precision curve over sequences, in percent."""
        return self.norm_precision.mean(axis=0) * 100.0

    def scores(self) -> Dict[str, float]:
        """AUC, OP50, OP75, Precision (20 px), NormPrecision (0.2), all in percent."""
        success = self.success_curve()
        return {
            "AUC": float(success.mean()),
            "OP50": float(success[int(np.argmin(np.abs(self.overlap_thresholds - 0.5)))]),
            "OP75": float(success[int(np.argmin(np.abs(self.overlap_thresholds - 0.75)))]),
            "Precision": float(self.precision_curve()[PRECISION_INDEX]),
            "NormPrecision": float(self.norm_precision_curve()[PRECISION_INDEX]),
        }


@dataclasses.dataclass
class Got10kResult:
    """GOT-10k-protocol IoUs.

    Attributes:
        sequences: sequence names.
        ious: pooled IoUs of all evaluated frames of all sequences, sequence after sequence.
        seq_index: (F,) sequence index of each pooled IoU.
    """

    sequences: List[str]
    ious: np.ndarray
    seq_index: np.ndarray

    def scores(self) -> Dict[str, float]:
        """AO, SR50, SR75 in percent (NaN when no frame was evaluated)."""
        if len(self.ious) == 0:
            return {"AO": float("nan"), "SR50": float("nan"), "SR75": float("nan")}
        return {
            "AO": float(np.mean(self.ious) * 100.0),
            "SR50": float(np.mean(self.ious > 0.5) * 100.0),
            "SR75": float(np.mean(self.ious > 0.75) * 100.0),
        }

    def success_curve(self) -> np.ndarray:
        """Fraction of pooled IoUs > t for t in GOT10K_CURVE_THRESHOLDS, in percent."""
        if len(self.ious) == 0:
            return np.full(len(GOT10K_CURVE_THRESHOLDS), np.nan)
        counts = _counts_greater(self.ious, np.zeros(len(self.ious), dtype=np.int64), 1, GOT10K_CURVE_THRESHOLDS)[0]
        return counts / len(self.ious) * 100.0

    def sequence_ao(self) -> np.ndarray:
        """(S,) mean IoU per sequence (NaN where a sequence contributed no frame)."""
        count = len(self.sequences)
        sums = np.bincount(self.seq_index, weights=self.ious, minlength=count)
        frames = np.bincount(self.seq_index, minlength=count)
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums / frames


# --------------------------------------------------------------------------------------------
# Protocols
# --------------------------------------------------------------------------------------------

def _pytracking_block(preds: ArrayList, gts: ArrayList,
                      target_visible: Optional[SequenceT[Optional[np.ndarray]]] = None,
                      lasot_style: Union[bool, SequenceT[bool]] = False,
                      frame_interval: int = 1,
                      names: Optional[SequenceT[str]] = None) -> CurveSet:
    """One block of :func:`pytracking_curves`."""
    flat = _flatten(preds, gts, frame_interval, names)
    count = len(flat.lengths)
    visible, _ = _flat_per_frame(target_visible, flat, frame_interval, True, bool, "target_visible")
    lasot = np.broadcast_to(np.asarray(lasot_style, dtype=bool), (count,))
    gt = flat.gt
    gt_nan = np.isnan(gt).any(axis=0)
    if gt_nan.any():
        raise ValueError(f"sequence {flat.names[int(flat.seq_id[np.argmax(gt_nan)])]}: NaN in the ground truth")

    pred = flat.pred
    # Negative sizes cannot be evaluated meaningfully; count them as zero-size boxes.
    zero_size = (pred[2] <= 0.0) | (pred[3] <= 0.0)
    first = np.zeros(pred.shape[1], dtype=bool)
    first[flat.starts] = True
    replaced = zero_size & ~first
    # Each replaced frame takes the latest non-replaced frame before it (a chain of zero-size
    # boxes keeps copying the same box, as pytracking's sequential loop does). The first frame
    # of every sequence is never replaced, so a chain never crosses into another sequence.
    if replaced.any():
        source = np.where(replaced, 0, np.arange(pred.shape[1]))
        np.maximum.accumulate(source, out=source)
        pred = np.take(pred, source, axis=1)
    else:
        pred = pred.copy()
    np.maximum(pred[2:], 0.0, out=pred[2:])
    # Frame 0 becomes the ground truth only after the replacement: frame 1 inherits frame 0's
    # original prediction, as in pytracking.
    pred[:, first] = gt[:, first]

    valid = (gt[2] > 0.0) & (gt[3] > 0.0) & visible
    iou = _iou_inclusive_cols(pred, gt)
    err = _center_error_inclusive_cols(pred, gt, normalized=False)
    err_norm = _center_error_inclusive_cols(pred, gt, normalized=True)
    invalid = ~valid
    iou[invalid] = -1.0
    err[invalid] = np.inf
    err_norm[invalid] = -1.0
    invisible_lasot = lasot[flat.seq_id] & ~visible
    err[invisible_lasot] = np.inf
    err_norm[invisible_lasot] = np.inf
    if np.isnan(iou).any():
        raise ValueError(f"sequence {flat.names[int(flat.seq_id[np.argmax(np.isnan(iou))])]}: "
                         f"NaN overlap (zero-area union)")

    valid_counts = np.bincount(flat.seq_id, weights=valid, minlength=count)
    divisor = np.where(lasot, flat.lengths, valid_counts).astype(np.float64)
    if (divisor <= 0).any():
        raise ValueError(f"sequence {flat.names[int(np.argmax(divisor <= 0))]}: no frame with a valid ground-truth box")
    divisor = divisor[:, None]
    return CurveSet(
        protocol="pytracking",
        sequences=flat.names,
        success=_counts_greater(iou, flat.seq_id, count, OVERLAP_THRESHOLDS) / divisor,
        precision=_counts_less_equal(err, flat.seq_id, count, CENTER_THRESHOLDS) / divisor,
        norm_precision=_counts_less_equal(err_norm, flat.seq_id, count, NORM_CENTER_THRESHOLDS) / divisor,
    )


def _got10k_block(preds: ArrayList, gts: ArrayList,
                image_wh: SequenceT[Optional[Tuple[float, float]]],
                covers: Optional[SequenceT[Optional[np.ndarray]]] = None,
                frame_interval: int = 1,
                names: Optional[SequenceT[str]] = None) -> Got10kResult:
    """One block of :func:`got10k_ious`."""
    flat = _flatten(preds, gts, frame_interval, names)
    count = len(flat.lengths)
    if len(image_wh) != count:
        raise ValueError(f"{len(image_wh)} image sizes for {count} sequences")
    cover, _ = _flat_per_frame(covers, flat, frame_interval, 1.0, np.float64, "cover")
    keep = cover > 0
    keep[flat.starts] = False

    has_bound = np.array([b is not None for b in image_wh], dtype=bool)
    bounds = np.array([b if b is not None else (np.inf, np.inf) for b in image_wh], dtype=np.float64).reshape(count, 2)
    pred, gt = flat.pred, flat.gt
    # Clip and measure every frame, then select: one 1-D selection at the end is much cheaper
    # than selecting columns of the (4, F) box arrays.
    if has_bound.any():
        width = np.repeat(bounds[:, 0], flat.lengths)
        height = np.repeat(bounds[:, 1], flat.lengths)
        if has_bound.all():
            pred, gt = _clip_cols(pred, width, height), _clip_cols(gt, width, height)
        else:
            rows = has_bound[flat.seq_id]
            pred, gt = pred.copy(), gt.copy()
            pred[:, rows] = _clip_cols(pred[:, rows], width[rows], height[rows])
            gt[:, rows] = _clip_cols(gt[:, rows], width[rows], height[rows])
    ious = _iou_got10k_cols(pred, gt)[keep]
    seq_index = flat.seq_id[keep]
    return Got10kResult(sequences=flat.names, ious=ious, seq_index=seq_index)


def _pysot_block(preds: ArrayList, gts: ArrayList,
                 visible: Optional[SequenceT[Optional[np.ndarray]]] = None,
                 frame_interval: int = 1,
                 names: Optional[SequenceT[str]] = None) -> CurveSet:
    """One block of :func:`pysot_curves`."""
    flat = _flatten(preds, gts, frame_interval, names)
    count = len(flat.lengths)
    keep, _ = _flat_per_frame(visible, flat, frame_interval, True, bool, "visible")
    pred, gt = flat.pred, flat.gt

    valid_box = (gt[2] > 0) & (gt[3] > 0)
    iou = np.where(valid_box, _iou_pysot_cols(pred, gt), -1.0)
    # Dropped frames must never count as a success in any curve.
    iou[~keep] = -np.inf

    gt_cx, gt_cy = gt[0] + (gt[2] - 1.0) / 2.0, gt[1] + (gt[3] - 1.0) / 2.0
    pr_cx, pr_cy = pred[0] + (pred[2] - 1.0) / 2.0, pred[1] + (pred[3] - 1.0) / 2.0

    def centre_distance(gx: np.ndarray, gy: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            dist = np.sqrt((gx - px) ** 2 + (gy - py) ** 2)
            # pysot only measures frames whose ground-truth centre lies at positive coordinates;
            # the others get -1, which every threshold counts as a success.
            dist = np.where((gx > 0) & (gy > 0), dist, -1.0)
        dist[~keep] = np.inf
        return dist

    dist = centre_distance(gt_cx, gt_cy, pr_cx, pr_cy)
    norm_w, norm_h = gt[2] + 1e-16, gt[3] + 1e-16
    with np.errstate(divide="ignore", invalid="ignore"):
        dist_norm = centre_distance(gt_cx / norm_w, gt_cy / norm_h, pr_cx / norm_w, pr_cy / norm_h)

    divisor = flat.lengths.astype(np.float64)[:, None]
    return CurveSet(
        protocol="pysot",
        sequences=flat.names,
        success=_counts_greater(iou, flat.seq_id, count, OVERLAP_THRESHOLDS) / divisor,
        precision=_counts_less_equal(dist, flat.seq_id, count, CENTER_THRESHOLDS) / divisor,
        norm_precision=_counts_less_equal(dist_norm, flat.seq_id, count, NORM_CENTER_THRESHOLDS) / divisor,
    )


# --------------------------------------------------------------------------------------------
# Public protocol functions: the same computations, run over blocks of sequences
# --------------------------------------------------------------------------------------------

#: Frames per block. Per-sequence results do not depend on the grouping, and blocks of a few
#: ten thousand frames keep the temporaries in the CPU cache (2-3x faster than one pass over
#: a whole LaSOT-sized array, which is memory bound).
BLOCK_FRAMES = 1 << 15


def _blocks(gts: ArrayList) -> List[slice]:
    blocks, start, frames = [], 0, 0
    for i, gt in enumerate(gts):
        frames += len(gt)
        if frames >= BLOCK_FRAMES:
            blocks.append(slice(start, i + 1))
            start, frames = i + 1, 0
    if start < len(gts):
        blocks.append(slice(start, len(gts)))
    return blocks


def _part(values, block: slice):
    if values is None or isinstance(values, (bool, np.bool_)):
        return values
    return list(values)[block]


def _check_lengths(count: int, **lists) -> None:
    for what, values in lists.items():
        if values is not None and not isinstance(values, (bool, np.bool_)) and len(values) != count:
            raise ValueError(f"{len(values)} {what} entries for {count} sequences")


def _merge_curves(parts: List[CurveSet], protocol: str) -> CurveSet:
    return CurveSet(protocol=protocol,
                    sequences=[n for c in parts for n in c.sequences],
                    success=np.concatenate([c.success for c in parts]),
                    precision=np.concatenate([c.precision for c in parts]),
                    norm_precision=np.concatenate([c.norm_precision for c in parts]))


def pytracking_curves(preds: ArrayList, gts: ArrayList,
                      target_visible: Optional[SequenceT[Optional[np.ndarray]]] = None,
                      lasot_style: Union[bool, SequenceT[bool]] = False,
                      frame_interval: int = 1,
                      names: Optional[SequenceT[str]] = None) -> CurveSet:
    """Per-sequence curves under pytracking's protocol (see the module docstring).

    Args:
        preds: per sequence (N, 4) xywh predictions (or ceil(N / I) rows with ``frame_interval``).
        gts: per sequence (N, 4) xywh ground truth; NaN rows are an error.
        target_visible: per sequence (N,) bool or None; invisible frames are invalid.
        lasot_style: per sequence (or one bool for all) whether pytracking's LaSOT rules apply:
            divide by all frames instead of the valid ones, and inf centre errors on invisible frames.
        frame_interval: evaluate frames 0, I, 2I, ... only.
        names: sequence names for messages and the result.
    Returns:
        CurveSet with (S, 21) success, (S, 51) precision and normalised precision fractions.
    """
    _check_lengths(len(gts), preds=preds, target_visible=target_visible, lasot_style=lasot_style, names=names)
    names = _names(names, len(gts))
    parts = [_pytracking_block(preds[b], gts[b], _part(target_visible, b), _part(lasot_style, b),
                               frame_interval, names[b]) for b in _blocks(gts)]
    if not parts:
        raise ValueError("no sequences to evaluate")
    return _merge_curves(parts, "pytracking")


def got10k_ious(preds: ArrayList, gts: ArrayList,
                image_wh: SequenceT[Optional[Tuple[float, float]]],
                covers: Optional[SequenceT[Optional[np.ndarray]]] = None,
                frame_interval: int = 1,
                names: Optional[SequenceT[str]] = None) -> Got10kResult:
    """Pooled IoUs under the GOT-10k toolkit's protocol (see the module docstring).

    Args:
        preds, gts: per sequence (N, 4) xywh.
        image_wh: per sequence (W, H) clipping bound, or None for no clipping (the toolkit's
            ``rect_iou`` without ``bound``).
        covers: per sequence (N,) cover labels or None; frames with cover == 0 are dropped.
        frame_interval: evaluate frames 0, I, 2I, ... only (frame 0 is still skipped).
        names: sequence names.
    Returns:
        Got10kResult (``scores()`` gives AO, SR50, SR75 in percent).
    """
    _check_lengths(len(gts), preds=preds, image_wh=image_wh, covers=covers, names=names)
    names = _names(names, len(gts))
    ious, seq_index = [], []
    for b in _blocks(gts):
        part = _got10k_block(preds[b], gts[b], _part(image_wh, b), _part(covers, b), frame_interval, names[b])
        ious.append(part.ious)
        seq_index.append(part.seq_index + b.start)
    if not ious:
        raise ValueError("no sequences to evaluate")
    return Got10kResult(sequences=names, ious=np.concatenate(ious), seq_index=np.concatenate(seq_index))


def pysot_curves(preds: ArrayList, gts: ArrayList,
                 visible: Optional[SequenceT[Optional[np.ndarray]]] = None,
                 frame_interval: int = 1,
                 names: Optional[SequenceT[str]] = None) -> CurveSet:
    """Per-sequence curves under pysot-toolkit's OPE protocol (see the module docstring).

    Args:
        preds, gts: per sequence (N, 4) xywh; predictions are used as written.
        visible: per sequence (N,) bool or None (pysot's LaSOT 'absent' flags: 1 = keep);
            dropped frames still count in the divisor.
        frame_interval: evaluate frames 0, I, 2I, ... only.
        names: sequence names.
    """
    _check_lengths(len(gts), preds=preds, visible=visible, names=names)
    names = _names(names, len(gts))
    parts = [_pysot_block(preds[b], gts[b], _part(visible, b), frame_interval, names[b]) for b in _blocks(gts)]
    if not parts:
        raise ValueError("no sequences to evaluate")
    return _merge_curves(parts, "pysot")
