"""What machine a measurement comes from and how to rerun it: shared by the training
experiments (ltr/experiments) and the timing benchmarks (benchmarks/).

Every report records the CPU and the cores this process may use, since timings on a shared or
affinity-restricted machine are only comparable with that context. torch is imported lazily so
the reports that do not need it (data loading, evaluation speed) do not pay for it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


def cpu_model(fallback: str = "unknown CPU") -> str:
    """The CPU's model name from ``/proc/cpuinfo``; ``platform.processor()`` or ``fallback`` elsewhere."""
    cpu = platform.processor() or fallback
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one, else all cores)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def load_average() -> Optional[List[float]]:
    """1/5/15-minute load averages (None where the OS has none): a busy machine inflates timings."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info(device: str = "cpu") -> Dict[str, Any]:
    """What the numbers were measured on: CPU, usable cores, threads, versions, load, device."""
    import torch

    info: Dict[str, Any] = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable_cores(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "device": device, "load_average": load_average(),
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def describe_machine(info: Dict[str, Any]) -> str:
    """One line for the printed report."""
    text = (f"{info['cpu']}, {info['usable_cores']}/{info['cores']} cores usable, torch {info['torch']} "
            f"({info['torch_threads']} threads), python {info['python']}, device {info['device']}")
    if "gpu" in info:
        text += f" ({info['gpu']})"
    if info.get("load_average") is not None:
        text += f", load average {info['load_average']}"
    return text


def command_line(script: str, argv: Optional[Sequence[str]]) -> str:
    """The command that reproduces this run: ``script`` as typed from the checkout (e.g.
    ``'benchmarks/slt_step.py'`` or ``'ltr/run_experiment.py slt_vs_flt'``) and its arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python", script] + [shlex.quote(a) for a in args])


def start_report(args: argparse.Namespace, script: str,
                 argv: Optional[Sequence[str]]) -> Tuple[Dict[str, Any], str]:
    """Apply ``--threads`` and the host-memory setting of the entry points, then print and return
    the machine description and the rerun command (``script`` as for :func:`command_line`).

    The thread count is set first so the recorded ``torch_threads`` is the one the timings use;
    ``keep_freed_host_memory`` (see :mod:`ltr.admin.host_memory`) is recorded with the machine.
    """
    import torch

    from ltr.admin.host_memory import keep_freed_host_memory

    kept = keep_freed_host_memory()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    machine = machine_info(args.device)
    machine["keep_freed_host_memory"] = kept
    command = command_line(script, argv)
    print(f"Machine: {describe_machine(machine)}", flush=True)
    print(f"Command: {command}", flush=True)
    return machine, command


def json_ready(value: Any) -> Any:
    """Plain JSON data: NaN and infinities become null (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def write_json(path: str, payload: Dict[str, Any]) -> None:
    """Write ``payload`` as strict JSON; through a temporary file so an interrupted run leaves no half file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(json_ready(payload), indent=2, allow_nan=False, default=str))
    os.replace(tmp, target)


def save_report(path: Optional[str], payload: Dict[str, Any]) -> None:
    """Write the report to ``--json`` when given and say where."""
    if path:
        write_json(path, payload)
        print(f"\nWrote {path}")
