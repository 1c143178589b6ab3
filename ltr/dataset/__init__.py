"""Training datasets in their official layouts, LMDB-packed variants and the synthetic generator."""
from ._common import DatasetFileError, SequenceFolderDataset
from .base_video_dataset import BaseVideoDataset
from .coco_seq import MSCOCOSeq
from .got10k import Got10k
from .lasot import Lasot
from .synthetic import SyntheticConfig, SyntheticVideoDataset, generate_video
from .lmdb_dataset import (Got10k_lmdb, Lasot_lmdb, LmdbDataset, MSCOCOSeq_lmdb, TrackingNet_lmdb, YouTubeVOS_lmdb,
                           pack_dataset)
from .trackingnet import TrackingNet
from .youtubevos import YouTubeVOS

__all__ = [
    "BaseVideoDataset",
    "SequenceFolderDataset",
    "DatasetFileError",
    "Lasot",
    "Got10k",
    "TrackingNet",
    "MSCOCOSeq",
    "YouTubeVOS",
    "LmdbDataset",
    "pack_dataset",
    "Lasot_lmdb",
    "Got10k_lmdb",
    "TrackingNet_lmdb",
    "MSCOCOSeq_lmdb",
    "YouTubeVOS_lmdb",
    "SyntheticConfig",
    "SyntheticVideoDataset",
    "generate_video",
]
