"""Running statistics for training logs (plain numbers only, so checkpoints stay weights_only)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Mapping, Optional


class AverageMeter:
    """Mean of the values seen since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sum = 0.0
        self.count = 0
        self.last = 0.0

    def update(self, value: float, n: int = 1) -> None:
        self.last = float(value)
        self.sum += float(value) * n
        self.count += n

    @property
    def avg(self) -> float:
        return self.sum / self.count if self.count else float("nan")


class StatsTracker:
    """A dict of AverageMeters keyed by stat name, reset each epoch."""

    def __init__(self) -> None:
        self.meters: Dict[str, AverageMeter] = {}

    def update(self, values: Mapping[str, float], n: int = 1) -> None:
        for key, value in values.items():
            if value is None:
                continue
            self.meters.setdefault(key, AverageMeter()).update(float(value), n)

    def averages(self) -> Dict[str, float]:
        return {key: meter.avg for key, meter in self.meters.items()}

    def reset(self) -> None:
        for meter in self.meters.values():
            meter.reset()

    def format(self, keys: Optional[list] = None) -> str:
        items = self.averages().items() if keys is None else ((k, self.meters[k].avg) for k in keys if k in self.meters)
        return "  ".join(f"{k}={v:.4f}" for k, v in items)


def append_jsonl(path: os.PathLike, record: Mapping) -> None:
    """Append one JSON line (flushed and fsynced: an interrupted run keeps every finished line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
