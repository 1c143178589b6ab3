"""MS-COCO as one-frame sequences (pytracking's MSCOCOSeq).

Layout::

    <root>/annotations/instances_train2017.json
    <root>/images/train2017/000000000009.jpg ...     (or <root>/train2017/...)

Every object that is not a crowd region and has a box of positive size becomes a sequence of one
frame. Masks come from the object's segmentation: polygons are rasterised with OpenCV, RLE
(compressed string or uncompressed counts) is decoded here, so pycocotools is not needed.
"""
from __future__ import annotations

import json
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch

from ltr.admin.environment import require_dataset_dir
from ltr.data.image_loader import imread_rgb
from ltr.dataset._common import (DatasetFileError, SequenceFolderDataset, boxes_to_info, configured_root,
                                 layout_error, object_meta, subsample)

__all__ = ["MSCOCOSeq", "decode_rle_string", "rle_to_mask", "polygons_to_mask", "segmentation_to_mask"]

_FIELD = "coco_dir"
_EXPECTED = "<root>/annotations/instances_<split><version>.json and <root>/images/<split><version>/*.jpg"


def decode_rle_string(counts: str) -> List[int]:
    """Run lengths of COCO's compressed RLE string (6-bit groups, deltas from index 3 on)."""
    values: List[int] = []
    pos = 0
    data = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    while pos < len(data):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(data):
                raise ValueError("COCO RLE string ends inside a number")
            chunk = data[pos] - 48
            value |= (chunk & 0x1F) << shift
            more = bool(chunk & 0x20)
            pos += 1
            shift += 5
            if not more and chunk & 0x10:
                value |= -1 << shift  # sign extension of the last group
        if len(values) > 2:
            value += values[-2]
        values.append(value)
    return values


def rle_to_mask(counts: Sequence[int], height: int, width: int) -> np.ndarray:
    """H x W uint8 0/1 mask from run lengths (alternating 0/1 runs, column-major, zeros first)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() != height * width:
        raise ValueError(f"RLE run lengths sum to {int(counts.sum())}, expected {height * width}")
    flat = np.repeat((np.arange(len(counts)) % 2).astype(np.uint8), counts)
    return flat.reshape(width, height).T.copy()


def polygons_to_mask(polygons: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """H x W uint8 0/1 mask filled from COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` (pixels)."""
    mask = np.zeros((height, width), dtype=np.uint8)
    shift = 3  # sub-pixel vertex precision (1/8 px)
    points = [np.round(np.asarray(poly, dtype=np.float64).reshape(-1, 2) * (1 << shift)).astype(np.int32)
              for poly in polygons if len(poly) >= 6]
    if points:
        cv2.fillPoly(mask, points, 1, lineType=cv2.LINE_8, shift=shift)
    return mask


def segmentation_to_mask(segmentation, height: int, width: int) -> np.ndarray:
    """H x W uint8 0/1 mask from any COCO segmentation (polygon list, RLE dict)."""
    if isinstance(segmentation, list):
        return polygons_to_mask(segmentation, height, width)
    if isinstance(segmentation, dict) and "counts" in segmentation:
        h, w = segmentation.get("size", (height, width))
        counts = segmentation["counts"]
        counts = decode_rle_string(counts) if isinstance(counts, (str, bytes)) else counts
        return rle_to_mask(counts, int(h), int(w))
    raise ValueError(f"unknown COCO segmentation format: {type(segmentation).__name__}")


class MSCOCOSeq(SequenceFolderDataset):
    """COCO objects as one-frame sequences with boxes, masks and classes.

    Args:
        root: COCO folder; default: the ``coco_dir`` setting (``SLT_COCO_DIR``).
        image_loader: path -> H x W x 3 uint8 RGB.
        data_fraction: use a fixed random fraction of the objects.
        split: ``'train'`` or ``'val'``.
        version: ``'2017'`` or ``'2014'``.
    """

    def __init__(self, root: Optional[str] = None, image_loader=imread_rgb, data_fraction: Optional[float] = None,
                 split: str = "train", version: str = "2017"):
        root_path = require_dataset_dir("COCO", configured_root(root, _FIELD), _FIELD, _EXPECTED)
        super().__init__("COCO", str(root_path), image_loader)
        tag = f"{split}{version}"
        anno_path = root_path / "annotations" / f"instances_{tag}.json"
        if not anno_path.is_file():
            raise layout_error("COCO", root_path, _FIELD, _EXPECTED, f"lacks 'annotations/instances_{tag}.json'")
        for candidate in (root_path / "images" / tag, root_path / tag):
            if candidate.is_dir():
                self._image_dir = candidate
                break
        else:
            raise layout_error("COCO", root_path, _FIELD, _EXPECTED, f"has neither 'images/{tag}' nor '{tag}'")
        try:
            with open(anno_path) as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise DatasetFileError(f"COCO: cannot read annotation file '{anno_path}': {exc}") from exc
        try:
            self._images = {img["id"]: img for img in data["images"]}
            self._categories = {cat["id"]: cat for cat in data["categories"]}
            annotations = data["annotations"]
        except (KeyError, TypeError) as exc:
            raise DatasetFileError(f"COCO: '{anno_path}' lacks the images/categories/annotations lists "
                                   f"({exc!r}).") from exc
        objects = [ann for ann in annotations
                   if not ann.get("iscrowd", 0) and len(ann.get("bbox", ())) == 4
                   and ann["bbox"][2] > 0 and ann["bbox"][3] > 0]
        dangling = [ann.get("id") for ann in objects
                    if ann.get("image_id") not in self._images or ann.get("category_id") not in self._categories]
        if dangling:
            raise DatasetFileError(f"COCO: '{anno_path}' has annotations {dangling[:5]} whose image or category "
                                   f"is not listed ({len(dangling)} in all).")
        self.sequence_list: List[dict] = subsample(objects, data_fraction)
        self.class_list = sorted({cat["name"] for cat in self._categories.values()})

    def is_video_sequence(self) -> bool:
        return False

    def has_class_info(self) -> bool:
        return True

    def has_mask(self) -> bool:
        return True

    def get_sequence_name(self, seq_id: int) -> str:
        return f"ann_{self.sequence_list[seq_id]['id']}"

    def _load_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        return boxes_to_info(np.asarray(self.sequence_list[seq_id]["bbox"], dtype=np.float32).reshape(1, 4))

    def get_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        return self._load_sequence_info(seq_id)  # cheaper to rebuild than to cache

    def _sequence_class(self, seq_id: int) -> Optional[str]:
        return self._categories[self.sequence_list[seq_id]["category_id"]]["name"]

    def get_sequence_meta(self, seq_id: int):
        category = self._categories[self.sequence_list[seq_id]["category_id"]]
        return object_meta(category["name"], major_class=category.get("supercategory"))

    def get_frame_path(self, seq_id: int, frame_id: int) -> str:
        image = self._images[self.sequence_list[seq_id]["image_id"]]
        return str(self._image_dir / image["file_name"])

    def get_frame_mask(self, seq_id: int, frame_id: int) -> np.ndarray:
        ann = self.sequence_list[seq_id]
        image = self._images[ann["image_id"]]
        try:
            return segmentation_to_mask(ann.get("segmentation", []), int(image["height"]), int(image["width"]))
        except ValueError as exc:
            raise DatasetFileError(f"COCO: annotation {ann.get('id')} of image '{image['file_name']}' has an "
                                   f"unreadable segmentation: {exc}") from exc

    def _read_frames(self, seq_id: int, frame_ids: Sequence[int]) -> List[np.ndarray]:
        # One image; every requested "frame" is a copy so augmentation can modify each freely.
        image = self.image_loader(self.get_frame_path(seq_id, 0))
        return [image.copy() for _ in frame_ids]
