"""Run a training setting: ``python ltr/run_training.py <train_module> <train_name> [options]``.

The setting is the Python module ``ltr/train_settings/<train_module>/<train_name>.py``; it
declares its typed fields (``FIELDS``), fills them (``configure(settings)``) and trains
(``run(settings)``). Any field can be changed from the command line:

    python ltr/run_training.py siamrpnpp slt_tiny --checkpoint F --set temperature=2 --set num_frames=24
    python ltr/run_training.py siamrpnpp slt_tiny --set temperature=2 --print-config

An unknown field or a value of the wrong type stops with the list of valid fields;
``--print-config`` prints every field with its value and where it came from (field default,
official recipe, setting default, command line) and exits. Works under ``torchrun --nproc_per_node=N`` (DDP; gloo on CPU, NCCL on GPU;
rank 0 alone prints, logs and writes checkpoints; see docs/distributed.md).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from ltr.admin import distributed
from ltr.admin.config import COMMAND_LINE, DETECTED, FIELD_DEFAULT, ConfigError
from ltr.admin.seeding import seed_everything
from ltr.admin.settings import Settings


def build_settings(train_module: str, train_name: str, seed: Optional[int] = None, checkpoint: Optional[str] = None,
                   resume: Optional[bool] = None, device: Optional[str] = None, workspace: Optional[str] = None,
                   deterministic: Optional[bool] = None, assignments: Sequence[str] = (), **overrides: Any) -> Settings:
    """The :class:`Settings` a setting's ``run`` receives; also joins the process group under torchrun.

    The schema is the setting module's ``FIELDS``. The named arguments and ``overrides`` (field
    -> value) that are not None and ``assignments`` (``'FIELD=VALUE'`` strings, parsed by the field's type)
    are recorded with source 'command line', so the setting's ``configure`` keeps them.

    Seeds python, numpy and torch with ``seed + rank`` (ranks draw different augmentation), and
    with ``deterministic`` asks torch for deterministic kernels (bit-identical resumed runs on GPU).

    Raises:
        ConfigError: an unknown field or a value of the wrong type (the message lists the valid fields).
    """
    if workspace:
        os.environ["SLT_WORKSPACE_DIR"] = workspace
    module = import_setting(train_module, train_name)
    settings = Settings(schema=getattr(module, "FIELDS", None))
    settings.module_name = train_module
    settings.script_name = train_name
    settings.project_path = f"{train_module}/{train_name}"
    given = {"seed": seed, "checkpoint": checkpoint, "resume": resume, "deterministic": deterministic, **overrides}
    for key, value in given.items():
        if value is not None:
            settings.set(key, value, COMMAND_LINE)
    settings.apply_assignments(assignments)
    if device is not None:
        settings.set("device", device, COMMAND_LINE)
    chosen = settings.device if settings.source("device") != FIELD_DEFAULT else None
    rank, world_size, local_rank = distributed.init_distributed_from_env(chosen)
    settings.rank, settings.world_size, settings.local_rank = rank, world_size, local_rank
    if chosen is None:
        settings.set("device", f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu", DETECTED)
    elif chosen == "cuda" and world_size > 1:
        settings.set("device", f"cuda:{local_rank}", settings.source("device"))  # one GPU per process
    if settings.deterministic:
        # cuBLAS needs this workspace setting for deterministic matrix products.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    seed_everything(settings.seed + rank)
    return settings


def import_setting(train_module: str, train_name: str):
    """The module ``ltr.train_settings.<train_module>.<train_name>``; a clear error if there is none."""
    module_name = f"ltr.train_settings.{train_module}.{train_name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            folder = Path(__file__).resolve().parent / "train_settings"
            known = sorted(f"{p.parent.name} {p.stem}" for p in folder.glob("*/*.py") if p.stem != "__init__")
            raise SystemExit(f"No training setting '{train_module} {train_name}' "
                             f"(expected ltr/train_settings/{train_module}/{train_name}.py). Known: {', '.join(known)}")
        raise


def run_training(train_module: str, train_name: str, seed: Optional[int] = None, checkpoint: Optional[str] = None,
                 resume: Optional[bool] = None, device: Optional[str] = None, workspace: Optional[str] = None,
                 assignments: Sequence[str] = (), print_config: bool = False, **overrides: Any) -> Optional[Settings]:
    """Import the setting and run it with a fresh :class:`Settings` (see :func:`build_settings`).

    With ``print_config`` the setting is only configured: its resolved fields are printed and
    returned, nothing trains.
    """
    try:
        settings = build_settings(train_module, train_name, seed=seed, checkpoint=checkpoint, resume=resume,
                                  device=device, workspace=workspace, assignments=assignments, **overrides)
        module = import_setting(train_module, train_name)
        if print_config:
            module.configure(settings)
            print(settings.describe())
            return settings
        module.run(settings)
        return None
    finally:
        distributed.cleanup()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train_module", help="folder under ltr/train_settings, e.g. siamrpnpp")
    parser.add_argument("train_name", help="setting in that folder, e.g. siamrpnpp, tiny, slt, slt_tiny")
    parser.add_argument("--seed", type=int, default=None, help="seed (default 0)")
    parser.add_argument("--checkpoint", default=None, help="start weights (SLT: the FLT checkpoint to fine-tune)")
    parser.add_argument("--no-resume", action="store_true", help="ignore latest.pth in the checkpoint folder")
    parser.add_argument("--device", default=None, help="cpu or cuda:N (default: cuda if available)")
    parser.add_argument("--workspace", default=None, help="workspace folder (sets SLT_WORKSPACE_DIR)")
    parser.add_argument("--epochs", type=int, default=None, help="override the setting's number of epochs")
    parser.add_argument("--iterations-per-epoch", type=int, default=None, dest="iterations_per_epoch",
                        help="override the setting's iterations per epoch")
    parser.add_argument("--num-workers", type=int, default=None, dest="num_workers")
    parser.add_argument("--checkpoint-every", type=int, default=None, dest="checkpoint_every",
                        help="also write latest.pth every N iterations (default: only at epoch ends)")
    parser.add_argument("--deterministic", action="store_true",
                        help="deterministic kernels (torch.use_deterministic_algorithms), for exact resumes")
    parser.add_argument("--validate-every", type=int, default=None, dest="validate_every",
                        help="track the validation split every N epochs, log AO/SR and keep best.pth")
    parser.add_argument("--validation-dataset", default=None, dest="validation_dataset",
                        help="auto (GOT-10k val when configured, else synthetic val), got10k_val or synthetic")
    parser.add_argument("--visdom", action="store_true", help="draw training curves in visdom (rank 0)")
    parser.add_argument("--visdom-host", default="127.0.0.1", dest="visdom_host")
    parser.add_argument("--visdom-port", type=int, default=8097, dest="visdom_port")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="assignments",
                        help="change any field of the setting (repeatable), e.g. --set temperature=2")
    parser.add_argument("--print-config", action="store_true", dest="print_config",
                        help="print every field with its value and source, then exit")
    args = parser.parse_args(argv)
    from ltr.admin.host_memory import keep_freed_host_memory
    keep_freed_host_memory()
    visdom = {"host": args.visdom_host, "port": args.visdom_port} if args.visdom else None
    try:
        run_training(args.train_module, args.train_name, seed=args.seed, checkpoint=args.checkpoint,
                     resume=False if args.no_resume else None, device=args.device, workspace=args.workspace,
                     assignments=args.assignments, print_config=args.print_config,
                     epochs=args.epochs, iterations_per_epoch=args.iterations_per_epoch, num_workers=args.num_workers,
                     checkpoint_every=args.checkpoint_every, deterministic=True if args.deterministic else None,
                     validate_every=args.validate_every, validation_dataset=args.validation_dataset, visdom=visdom)
    except ConfigError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


if __name__ == "__main__":
    main()
