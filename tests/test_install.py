"""Opt-in: ``scripts/setup_env.sh`` builds a working environment from nothing.

The test creates a fresh virtual environment in a temporary folder with pip's cache off, exactly
as a new machine would, so it needs the package index and takes a few minutes. It runs only with
``SLT_TEST_INSTALL=1``::

    SLT_TEST_INSTALL=1 python -m pytest tests/test_install.py -q
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Dict

import pytest

REPO = Path(__file__).resolve().parents[1]
OPT_IN_VARIABLE = "SLT_TEST_INSTALL"
SETUP_TIMEOUT_S = 3600

pytestmark = pytest.mark.skipif(
    os.environ.get(OPT_IN_VARIABLE) != "1",
    reason=f"set {OPT_IN_VARIABLE}=1 to run the install test (builds a fresh venv with scripts/setup_env.sh "
           f"from the package index; a few minutes)")

# Runs inside the new environment, from a folder outside the checkout, so every import has to
# come from what setup_env.sh installed (the editable install included), not from the checkout
# being on sys.path.
_CHECK_SCRIPT = textwrap.dedent("""
    import json, os, sys, tempfile, warnings

    import numpy as np
    import cv2
    import pkg_resources  # visdom's and jpeg4py's builds import it; setuptools >= 81 dropped it
    import torch
    import torchvision
    import visdom

    import ltr, pytracking, slt_plugins
    from ltr.data import image_loader

    # jpeg4py is decoded through libturbojpeg when both load; otherwise the loader falls back to
    # OpenCV. Either way a JPEG must decode to the right pixels.
    image = np.zeros((12, 16, 3), np.uint8)
    image[:, 8:] = (200, 40, 10)
    path = os.path.join(tempfile.mkdtemp(), "probe.jpg")
    assert cv2.imwrite(path, image[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), 100])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the one-time "falling back to OpenCV" notice
        backend = image_loader.resolve_backend()
        decoded = image_loader.imread_rgb(path)
    assert decoded.shape == image.shape, decoded.shape
    assert abs(decoded.astype(int) - image.astype(int)).mean() < 8
    try:
        import jpeg4py  # noqa: F401
        jpeg4py_importable = True
    except ImportError:
        jpeg4py_importable = False

    print(json.dumps({
        "python": sys.executable,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "backend": backend,
        "jpeg4py_importable": jpeg4py_importable,
        "packages": {m.__name__: os.path.dirname(m.__file__) for m in (ltr, pytracking, slt_plugins)},
    }))
""")


def _clean_env(venv: Path) -> Dict[str, str]:
    """The caller's environment minus what would leak the current interpreter's packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(SLT_VENV=str(venv), PIP_NO_CACHE_DIR="1")
    return env


def _tail(text: str, chars: int = 6000) -> str:
    return text[-chars:] if len(text) > chars else text


def test_setup_env_builds_a_fresh_working_venv(tmp_path):
    venv = tmp_path / "venv"
    env = _clean_env(venv)
    setup = subprocess.run(["bash", str(REPO / "scripts" / "setup_env.sh")], cwd=str(tmp_path), env=env,
                           capture_output=True, text=True, timeout=SETUP_TIMEOUT_S)
    assert setup.returncode == 0, (f"scripts/setup_env.sh failed with exit status {setup.returncode}\n"
                                   f"--- stdout ---\n{_tail(setup.stdout)}\n--- stderr ---\n{_tail(setup.stderr)}")
    python = venv / "bin" / "python"
    assert python.is_file(), f"setup_env.sh finished but {python} does not exist"

    check = subprocess.run([str(python), "-c", _CHECK_SCRIPT], cwd=str(tmp_path), env=env,
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, (f"imports in the new venv failed:\n--- stdout ---\n{_tail(check.stdout)}\n"
                                   f"--- stderr ---\n{_tail(check.stderr)}")
    report = json.loads(check.stdout.strip().splitlines()[-1])
    assert Path(report["python"]).parent.parent == venv, report["python"]
    assert report["torch"].split("+")[0] == "2.14.1" and report["torchvision"].split("+")[0] == "0.29.1"
    assert report["backend"] in ("jpeg4py", "opencv")
    for name, folder in report["packages"].items():
        # the editable install points at this checkout
        assert Path(folder).resolve() == (REPO / name).resolve(), (name, folder)

    # a second run finds its stamp and does nothing
    again = subprocess.run(["bash", str(REPO / "scripts" / "setup_env.sh")], cwd=str(tmp_path), env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "installing packages" not in again.stdout, _tail(again.stdout + again.stderr)
    print(f"setup_env.sh: fresh venv OK (torch {report['torch']}, JPEG backend {report['backend']}, "
          f"jpeg4py importable: {report['jpeg4py_importable']})")
