"""Registry of evaluation datasets: ``get_dataset(name, root=None, **kwargs) -> SequenceList``.

Built-in names:

=============== ==================================================================== ==============
name            what                                                                 root setting
=============== ==================================================================== ==============
lasot           LaSOT test, official 280 sequences                                   lasot_dir
got10k_val      GOT-10k val (180 sequences, full ground truth, cover labels)         got10k_dir
got10k_test     GOT-10k test (first box only; pack results for the server)           got10k_dir
trackingnet     TrackingNet TEST (first box only; pack results for the server)       trackingnet_dir
otb             OTB-100                                                              otb_dir
synthetic       synthetic videos, ``test`` split, GOT-10k layout                     synthetic_dir
=============== ==================================================================== ==============

Keyword arguments go to the dataset class, e.g. ``sequences=[...]`` to load a subset,
``split=`` for ``synthetic`` and ``sets=`` for ``trackingnet``. Other code can add datasets
with :func:`register_dataset`.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

from pytracking.evaluation.data import BaseDataset, SequenceList

DatasetFactory = Callable[..., BaseDataset]


def _lasot(root: Optional[str] = None, **kwargs) -> BaseDataset:
    from pytracking.evaluation.lasotdataset import LaSOTDataset
    return LaSOTDataset(root=root, **kwargs)


def _got10k(split: str) -> DatasetFactory:
    def factory(root: Optional[str] = None, **kwargs) -> BaseDataset:
        from pytracking.evaluation.got10kdataset import GOT10kDataset
        return GOT10kDataset(split=split, root=root, **kwargs)
    return factory


def _trackingnet(root: Optional[str] = None, **kwargs) -> BaseDataset:
    from pytracking.evaluation.trackingnetdataset import TrackingNetDataset
    return TrackingNetDataset(root=root, **kwargs)


def _otb(root: Optional[str] = None, **kwargs) -> BaseDataset:
    from pytracking.evaluation.otbdataset import OTBDataset
    return OTBDataset(root=root, **kwargs)


def _synthetic(root: Optional[str] = None, **kwargs) -> BaseDataset:
    from pytracking.evaluation.syntheticdataset import SyntheticDataset
    return SyntheticDataset(root=root, **kwargs)


_REGISTRY: Dict[str, DatasetFactory] = {
    "lasot": _lasot,
    "got10k_val": _got10k("val"),
    "got10k_test": _got10k("test"),
    "trackingnet": _trackingnet,
    "otb": _otb,
    "synthetic": _synthetic,
}

#: Alternative spellings accepted by :func:`get_dataset`.
_ALIASES = {"otb100": "otb", "otb2015": "otb", "lasot_test": "lasot", "got10k": "got10k_val",
            "trackingnet_test": "trackingnet", "synthetic_test": "synthetic"}


def register_dataset(name: str, factory: DatasetFactory, overwrite: bool = False) -> None:
    """Add a dataset: ``factory(root=None, **kwargs)`` must return a BaseDataset."""
    if name in _REGISTRY and not overwrite:
        raise KeyError(f"dataset '{name}' is already registered")
    _REGISTRY[name] = factory


def list_datasets() -> List[str]:
    """Names accepted by :func:`get_dataset` (aliases excluded)."""
    return sorted(_REGISTRY)


def canonical_dataset_name(name: str) -> str:
    """Resolve aliases (e.g. ``'otb100'`` -> ``'otb'``); raises KeyError for unknown names."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise KeyError(f"unknown dataset '{name}'; known: {list_datasets()}")
    return key


def load_dataset(name: str, root: Optional[str] = None, **kwargs) -> BaseDataset:
    """The dataset object (annotations are read lazily by ``get_sequence_list()``)."""
    return _REGISTRY[canonical_dataset_name(name)](root=root, **kwargs)


def get_dataset(name: str, root: Optional[str] = None, **kwargs) -> SequenceList:
    """Load an evaluation dataset as a SequenceList (annotations only; images are never opened).

    Args:
        name: one of :func:`list_datasets` (or an alias such as ``'otb100'``).
        root: dataset root; default: the matching field of ``ltr.admin.environment.env_settings()``.
        **kwargs: passed to the dataset class (``sequences=[...]``, ``split=...``, ``sets=...``).
    Raises:
        KeyError: unknown dataset name.
        ltr.admin.environment.DatasetPathError: root not configured or not in the official layout.
    """
    return load_dataset(name, root, **kwargs).get_sequence_list()
