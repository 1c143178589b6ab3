"""Pack a training dataset (or a subset) into an LMDB holding the original image bytes.

Usage::

    python -m ltr.util_scripts.pack_lmdb lasot --root /data/LaSOT --out /data/lmdb/lasot --split train
    python -m ltr.util_scripts.pack_lmdb got10k --root /data/got10k --out /data/lmdb/got10k_train
    python -m ltr.util_scripts.pack_lmdb trackingnet --root /data/TrackingNet --set-ids 0,1,2 --out ...
    python -m ltr.util_scripts.pack_lmdb coco --root /data/coco --out /data/lmdb/coco_train2017
    python -m ltr.util_scripts.pack_lmdb youtubevos --root /data/ytvos2019 --out /data/lmdb/ytvos
    python -m ltr.util_scripts.pack_lmdb lasot --sequences 10 --out /tmp/lasot10          # first 10
    python -m ltr.util_scripts.pack_lmdb lasot --sequences airplane-1,bear-2 --out ...    # by name

``--root`` defaults to the dataset's setting (e.g. ``SLT_LASOT_DIR``); ``--out`` defaults to the
matching ``*_lmdb_dir`` setting, else ``<lmdb_dir>/<dataset>``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ltr.admin.environment import env_settings
from ltr.dataset._common import configured_root
from ltr.dataset.coco_seq import MSCOCOSeq
from ltr.dataset.got10k import Got10k
from ltr.dataset.lasot import Lasot
from ltr.dataset.lmdb_dataset import pack_dataset
from ltr.dataset.trackingnet import TrackingNet
from ltr.dataset.youtubevos import YouTubeVOS

__all__ = ["main", "build_dataset", "select_sequences", "DATASETS"]


def _lasot(args) -> Lasot:
    return Lasot(args.root, split=args.split)


def _got10k(args) -> Got10k:
    return Got10k(args.root, split=args.split)


def _trackingnet(args) -> TrackingNet:
    set_ids = [int(i) for i in args.set_ids.split(",")] if args.set_ids else None
    return TrackingNet(args.root, set_ids=set_ids)


def _coco(args) -> MSCOCOSeq:
    return MSCOCOSeq(args.root, split=args.split or "train", version=args.version)


def _youtubevos(args) -> YouTubeVOS:
    return YouTubeVOS(args.root, split=args.split or "train")


#: command-line name -> (constructor from parsed args, settings field of the LMDB path)
DATASETS: Dict[str, tuple] = {
    "lasot": (_lasot, "lasot_lmdb_dir"),
    "got10k": (_got10k, "got10k_lmdb_dir"),
    "trackingnet": (_trackingnet, "trackingnet_lmdb_dir"),
    "coco": (_coco, "coco_lmdb_dir"),
    "youtubevos": (_youtubevos, "youtubevos_lmdb_dir"),
}


def build_dataset(args: argparse.Namespace):
    """The folder dataset described by the parsed arguments."""
    return DATASETS[args.dataset][0](args)


def select_sequences(dataset, spec: Optional[str]) -> Optional[List[int]]:
    """Sequence ids from ``--sequences``: a count (first N) or comma-separated names; None = all."""
    if not spec:
        return None
    if spec.isdigit():
        return list(range(min(int(spec), dataset.get_num_sequences())))
    wanted = [name.strip() for name in spec.split(",") if name.strip()]
    index = {dataset.get_sequence_name(i): i for i in range(dataset.get_num_sequences())}
    unknown = [name for name in wanted if name not in index]
    if unknown:
        raise SystemExit(f"pack_lmdb: {dataset.get_name()} has no sequences named {unknown}; "
                         f"e.g. {list(index)[:5]}")
    return [index[name] for name in wanted]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ltr.util_scripts.pack_lmdb", description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--root", default=None, help="dataset root (default: the dataset's setting)")
    parser.add_argument("--out", default=None, help="LMDB folder to write (default: the *_lmdb_dir setting)")
    parser.add_argument("--split", default=None, help="lasot: train|test; got10k: train|val|vottrain|votval; "
                                                      "coco: train|val; youtubevos: train")
    parser.add_argument("--set-ids", default=None, help="trackingnet chunks, e.g. 0,1,2")
    parser.add_argument("--version", default="2017", help="coco version (2017 or 2014)")
    parser.add_argument("--sequences", default=None, help="first N sequences, or comma-separated names")
    parser.add_argument("--map-size-gb", type=float, default=1024.0, help="LMDB address space to reserve")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> Path:
    args = _parser().parse_args(argv)
    dataset = build_dataset(args)
    out = args.out or configured_root(None, DATASETS[args.dataset][1])
    if not out:
        out = str(Path(env_settings().lmdb_dir) / args.dataset)
    seq_ids = select_sequences(dataset, args.sequences)
    count = dataset.get_num_sequences() if seq_ids is None else len(seq_ids)
    print(f"Packing {count} sequences of {dataset.get_name()} from {dataset.root} into {out}")
    path = pack_dataset(dataset, out, sequences=seq_ids, map_size=int(args.map_size_gb * (1 << 30)),
                        overwrite=args.overwrite, progress=not args.quiet)
    print(f"Done: {path}")
    return path


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
