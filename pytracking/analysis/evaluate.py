"""Evaluate one tracker's boxes on a list of Sequences under one or more protocols.

This is the bridge between :mod:`pytracking.evaluation` (datasets) and
:mod:`pytracking.analysis.metrics` (array-level protocols): it picks, per sequence, what each
protocol needs (visibility on LaSOT, cover labels on GOT-10k-layout sets, the image size for
the GOT-10k clipping bound) and returns all scores in percent.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Mapping, Optional, Sequence as SequenceT, Tuple

import numpy as np

from pytracking.analysis.metrics import (CurveSet, Got10kResult, got10k_ious, pysot_curves,
                                         pytracking_curves)

#: Protocol names accepted by :func:`evaluate_tracker`.
PROTOCOLS = ("pytracking", "got10k", "pysot")

#: Datasets on which pytracking applies its LaSOT rules (divide by all frames, inf errors when invisible).
LASOT_STYLE_DATASETS = ("lasot",)


class EvaluationError(ValueError):
    """The inputs cannot be evaluated (withheld ground truth, unknown image size, ...)."""


class ImageSizeUnknownError(EvaluationError):
    """The GOT-10k protocol needs a sequence's image size, and neither meta data nor the frame has it."""


@dataclasses.dataclass
class TrackerEvaluation:
    """Scores of one tracker on one sequence list.

    Attributes:
        name: tracker display name.
        sequences: evaluated sequence names.
        pytracking / got10k / pysot: protocol results, None where not computed.
    """

    name: str
    sequences: List[str]
    pytracking: Optional[CurveSet] = None
    got10k: Optional[Got10kResult] = None
    pysot: Optional[CurveSet] = None

    def summary(self) -> Dict[str, float]:
        """{"AUC", "Precision", "NormPrecision", "AO", "SR50", "SR75", "sequences"}; scores in percent.

        AUC / Precision / NormPrecision follow the pytracking protocol, AO / SR50 / SR75 the
        GOT-10k toolkit; protocols not computed give NaN.
        """
        nan = float("nan")
        out: Dict[str, float] = {"AUC": nan, "Precision": nan, "NormPrecision": nan,
                                 "AO": nan, "SR50": nan, "SR75": nan}
        if self.pytracking is not None:
            scores = self.pytracking.scores()
            out.update({k: scores[k] for k in ("AUC", "Precision", "NormPrecision")})
        if self.got10k is not None:
            out.update(self.got10k.scores())
        out["sequences"] = len(self.sequences)
        return out

    def all_scores(self) -> Dict[str, Dict[str, float]]:
        """protocol -> its scores (percent), for every computed protocol."""
        out: Dict[str, Dict[str, float]] = {}
        if self.pytracking is not None:
            out["pytracking"] = self.pytracking.scores()
        if self.got10k is not None:
            out["got10k"] = self.got10k.scores()
        if self.pysot is not None:
            out["pysot"] = self.pysot.scores()
        return out


def _image_wh(seq) -> Tuple[float, float]:
    size = seq.get_image_size() if hasattr(seq, "get_image_size") else seq.image_size
    if size is None:
        raise ImageSizeUnknownError(
            f"sequence {seq.name}: the GOT-10k protocol clips boxes to the image but the image size is unknown "
            f"(no 'resolution' in meta_info.ini and the first frame {seq.frames[0] if seq.frames else '?'} "
            f"cannot be read). Provide the frames or the meta file.")
    height, width = size
    return float(width), float(height)


def evaluate_tracker(sequences: SequenceT, boxes: Mapping[str, np.ndarray], name: str = "tracker",
                     protocols: Iterable[str] = ("pytracking", "got10k"), frame_interval: int = 1) -> TrackerEvaluation:
    """Evaluate predicted boxes against a list of Sequences.

    Args:
        sequences: pytracking Sequence objects with full ground truth.
        boxes: sequence name -> (N, 4) xywh predictions (N = frames, or ceil(N / I) with ``frame_interval``).
        name: display name.
        protocols: subset of :data:`PROTOCOLS`.
        frame_interval: evaluate frames 0, I, 2I, ... only.
    Raises:
        EvaluationError: withheld ground truth, missing predictions, unknown image size.
    """
    protocols = tuple(protocols)
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise EvaluationError(f"unknown protocol(s) {unknown}; known: {list(PROTOCOLS)}")
    sequences = list(sequences)
    if not sequences:
        raise EvaluationError("no sequences to evaluate")
    for seq in sequences:
        if len(seq.ground_truth_rect) != len(seq.frames):
            raise EvaluationError(
                f"sequence {seq.name} ({seq.dataset}) has ground truth for {len(seq.ground_truth_rect)} of "
                f"{len(seq.frames)} frames: its annotations are withheld, so it can only be scored by the "
                f"benchmark's server (pack the results with pytracking/util_scripts/pack_results.py).")
        if seq.name not in boxes:
            raise EvaluationError(f"no predictions for sequence {seq.name}")
    names = [s.name for s in sequences]
    preds = [boxes[s.name] for s in sequences]
    gts = [s.ground_truth_rect for s in sequences]
    result = TrackerEvaluation(name=name, sequences=names)
    # Resolved before any protocol runs: a caller that drops the GOT-10k protocol on an unknown
    # image size then retries without having computed the other protocols twice.
    image_wh = [_image_wh(s) for s in sequences] if "got10k" in protocols else None
    try:
        if "pytracking" in protocols:
            result.pytracking = pytracking_curves(
                preds, gts, target_visible=[s.target_visible for s in sequences],
                lasot_style=[s.dataset in LASOT_STYLE_DATASETS for s in sequences],
                frame_interval=frame_interval, names=names)
        if "got10k" in protocols:
            result.got10k = got10k_ious(preds, gts, image_wh=image_wh,
                                        covers=[getattr(s, "cover", None) for s in sequences],
                                        frame_interval=frame_interval, names=names)
        if "pysot" in protocols:
            # pysot-toolkit only knows per-frame presence for LaSOT ('absent' in its json).
            visible = [s.target_visible if s.dataset in LASOT_STYLE_DATASETS else None for s in sequences]
            result.pysot = pysot_curves(preds, gts, visible=visible, frame_interval=frame_interval, names=names)
    except EvaluationError:
        raise
    except ValueError as exc:
        raise EvaluationError(f"{name}: {exc}") from None
    return result
