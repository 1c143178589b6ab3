"""Training datasets in their official layouts, LMDB-packed variants and the synthetic generator."""
from .base_video_dataset import BaseVideoDataset

__all__ = ["BaseVideoDataset"]
