"""SiamAttn's mask output at test time: the RoI mask warped into the image and its polygon (OpenCV).

Official ``SiamAttnTracker``: the m x m mask over the state's RoI is warped into the image
(bilinear), thresholded, and the largest external contour, if its area exceeds 100 pixels, gives the
polygon through ``cv2.minAreaRect``; otherwise the polygon is the reported axis-aligned box.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np

__all__ = ["MIN_CONTOUR_AREA", "warp_mask_to_image", "mask_polygon", "box_polygon"]

#: Smallest contour area (pixels) that yields a rotated-rectangle polygon.
MIN_CONTOUR_AREA = 100.0


def warp_mask_to_image(mask: np.ndarray, roi_xyxy: Sequence[float], crop_center_xy: Sequence[float],
                       crop_scale: float, crop_size: int, image_hw: Tuple[int, int]) -> np.ndarray:
    """The m x m ``mask`` over ``roi_xyxy`` (crop pixels) as an H x W float32 image map (0 outside).

    ``crop_center_xy`` is the crop's centre in continuous image pixels, ``crop_scale`` crop pixels per
    image pixel and ``crop_size`` the crop side. Mask pixel u (centre u + 0.5) lies at crop coordinate
    ``x1 + (u + 0.5) (x2 - x1) / m``; image pixel indices are continuous coordinates - 0.5.
    """
    m = mask.shape[0]
    x1, y1, x2, y2 = (float(v) for v in roi_xyxy)
    ax, ay = (x2 - x1) / m / crop_scale, (y2 - y1) / m / crop_scale
    ox = crop_center_xy[0] - 0.5 + (x1 - crop_size / 2) / crop_scale + 0.5 * ax
    oy = crop_center_xy[1] - 0.5 + (y1 - crop_size / 2) / crop_scale + 0.5 * ay
    matrix = np.array([[ax, 0.0, ox], [0.0, ay, oy]], dtype=np.float64)
    h, w = image_hw
    return cv2.warpAffine(np.ascontiguousarray(mask, dtype=np.float32), matrix, (int(w), int(h)),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def box_polygon(box_xywh: Sequence[float]) -> List[float]:
    """The 4 corners [x1, y1, x2, y1, x2, y2, x1, y2] of an xywh box."""
    x, y, w, h = (float(v) for v in box_xywh)
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def mask_polygon(image_mask: np.ndarray, threshold: float, box_xywh: Sequence[float]) -> List[float]:
    """8 floats: the min-area rectangle of the largest contour of ``image_mask > threshold`` when its
    area exceeds :data:`MIN_CONTOUR_AREA`, else the corners of ``box_xywh``."""
    binary = (image_mask > threshold).astype(np.uint8)
    contours = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[-2]
    if contours:
        areas = [cv2.contourArea(c) for c in contours]
        best = int(np.argmax(areas))
        if areas[best] > MIN_CONTOUR_AREA:
            corners = cv2.boxPoints(cv2.minAreaRect(contours[best]))
            return [float(v) for v in corners.reshape(-1)]
    return box_polygon(box_xywh)
