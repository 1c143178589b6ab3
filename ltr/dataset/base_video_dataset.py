"""The common interface of every training dataset (same public names as pytracking's).

A dataset is a list of sequences. Boxes are ``xywh`` in pixels (x, y of the top-left corner,
width, height) as float tensors of shape (N, 4). Image-only datasets such as COCO expose each
object as a one-frame sequence and return ``is_video_sequence() == False``; samplers turn those
into pairs or episodes by augmentation.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch


class BaseVideoDataset(torch.utils.data.Dataset):
    """Base class for video (and one-frame-sequence image) datasets.

    Subclasses implement at least :meth:`get_name`, :meth:`get_num_sequences`,
    :meth:`get_sequence_info` and :meth:`get_frames`.
    """

    def __init__(self, name: str, root: Optional[str], image_loader=None):
        self.name = name
        self.root = root
        self.image_loader = image_loader
        self.sequence_list: List[Any] = []
        self.class_list: List[str] = []

    def __len__(self) -> int:
        return self.get_num_sequences()

    def __getitem__(self, index):
        # Samplers call get_frames; indexing a dataset directly is not meaningful.
        return None

    def is_video_sequence(self) -> bool:
        """True for real videos, False for image datasets seen as one-frame sequences."""
        return True

    def is_synthetic_video_dataset(self) -> bool:
        """True where frames are generated rather than read from disk."""
        return False

    def get_name(self) -> str:
        raise NotImplementedError

    def get_num_sequences(self) -> int:
        return len(self.sequence_list)

    def has_class_info(self) -> bool:
        return False

    def has_occlusion_info(self) -> bool:
        return False

    def has_mask(self) -> bool:
        """True where get_frames returns per-frame target masks in ``anno['mask']``."""
        return False

    # pytracking spells it this way too
    def has_segmentation_info(self) -> bool:
        return self.has_mask()

    def get_num_classes(self) -> int:
        return len(self.class_list)

    def get_class_list(self) -> List[str]:
        return self.class_list

    def get_class_name(self, seq_id: int) -> Optional[str]:
        raise NotImplementedError

    def get_sequences_in_class(self, class_name: str) -> List[int]:
        raise NotImplementedError

    def get_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        """Annotations of one sequence.

        Returns:
            dict with 'bbox' (N, 4) float xywh pixels, 'valid' (N,) bool (box has positive size),
            'visible' (N,) bool (target visible), optionally 'visible_ratio' (N,) float.
        """
        raise NotImplementedError

    def get_frames(self, seq_id: int, frame_ids: Sequence[int],
                   anno: Optional[Dict[str, torch.Tensor]] = None) -> Tuple[list, Dict[str, list], Dict[str, Any]]:
        """Read frames of one sequence.

        Returns:
            (frames, anno_frames, meta): frames is a list of HxWx3 uint8 RGB numpy arrays;
            anno_frames maps each key of get_sequence_info to a list with one entry per
            requested frame (e.g. 'bbox' -> list of (4,) tensors); meta is a dict with at least
            'object_class_name' (or None).
        """
        raise NotImplementedError
