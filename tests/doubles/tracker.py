"""A deterministic stand-in tracker: follows the brightest box-sized region near the last position.

It needs no network, runs at hundreds of FPS on a CPU and produces the same debug outputs a real
tracker does (a score map and a search crop), which is what the running and visualisation code
needs to be exercised.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional

import cv2
import numpy as np

from pytracking.tracker.base import BaseTracker


class BrightSpotTracker(BaseTracker):
    """Moves an xywh-pixel box to the brightest window of its size inside a search region.

    Parameters read: ``search_factor`` (search region side / box side), ``frame_delay`` (seconds
    slept per frame), ``checkpoint`` (optional text file holding a float added to every predicted
    x, so tests can see that ``--checkpoint`` reached the tracker).
    """

    def initialize(self, image: np.ndarray, info: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        self.box = np.asarray(info["init_bbox"], dtype=np.float64)
        self.x_offset = 0.0
        if self.params.checkpoint:
            self.x_offset = float(Path(self.params.checkpoint).read_text().strip())
        return None

    def track(self, image: np.ndarray, info: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        if self.params.get("frame_delay", 0.0):
            time.sleep(self.params.frame_delay)
        x, y, w, h = self.box
        height, width = image.shape[:2]
        factor = float(self.params.get("search_factor", 2.0))
        cx, cy = x + w / 2, y + h / 2
        half_w, half_h = max(w * factor / 2, 1.0), max(h * factor / 2, 1.0)
        x0, y0 = int(max(0, np.floor(cx - half_w))), int(max(0, np.floor(cy - half_h)))
        x1, y1 = int(min(width, np.ceil(cx + half_w))), int(min(height, np.ceil(cy + half_h)))
        crop = image[y0:y1, x0:x1]
        gray = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        kw, kh = max(1, int(round(w))), max(1, int(round(h)))
        score = cv2.blur(gray, (kw, kh), borderType=cv2.BORDER_CONSTANT)
        row, col = np.unravel_index(int(np.argmax(score)), score.shape)
        new_cx, new_cy = x0 + col + 0.5, y0 + row + 0.5
        self.box = np.array([new_cx - w / 2, new_cy - h / 2, w, h])
        out_box = self.box.copy()
        out_box[0] += self.x_offset
        return {"target_bbox": out_box.tolist(), "score_map": score, "search_crop": crop,
                "info": {"max score": float(score.max())}}
