"""The benchmark scripts' view of :mod:`ltr.admin.report`: scripts name themselves without the folder."""
from __future__ import annotations

import argparse
from typing import Any, Dict, Optional, Sequence, Tuple

from ltr.admin import report
from ltr.admin.report import (cpu_model, describe_machine, json_ready, load_average, machine_info,  # noqa: F401
                              save_report, usable_cores, write_json)


def command_line(script: str, argv: Optional[Sequence[str]]) -> str:
    """The command that reproduces a run of ``benchmarks/<script>``."""
    return report.command_line(f"benchmarks/{script}", argv)


def start_report(args: argparse.Namespace, script: str,
                 argv: Optional[Sequence[str]]) -> Tuple[Dict[str, Any], str]:
    """:func:`ltr.admin.report.start_report` for ``benchmarks/<script>``."""
    return report.start_report(args, f"benchmarks/{script}", argv)
