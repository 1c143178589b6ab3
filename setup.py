"""Installs the ltr (training), pytracking (running and evaluation) and slt_plugins packages."""
from setuptools import find_packages, setup

setup(
    name="slt-tracking",
    version="0.1.0",
    description="Sequence-level training (SLT) of visual object trackers on a pytracking-style framework",
    python_requires=">=3.9",
    packages=find_packages(include=["ltr", "ltr.*", "pytracking", "pytracking.*", "slt_plugins", "slt_plugins.*"]),
    include_package_data=True,
    package_data={"ltr": ["data_specs/*.txt", "data_specs/*.json", "admin/manifests/*.json"], "pytracking": ["evaluation/data_specs/*.txt", "evaluation/data_specs/*.json"]},
    install_requires=[
        "torch==2.14.1",
        "torchvision==0.29.1",
        "numpy",
        "opencv-python-headless",
        "scipy",
        "lmdb",
        "matplotlib",
        "tqdm",
        "jpeg4py",
        "visdom",
    ],
    extras_require={"test": ["pytest", "got10k"]},
    entry_points={
        # Third-party trackers register SLT adapters here (see docs/slt.md, docs/own_tracker.md).
        "slt_plugins.adapters": [],
        # Third-party trackers for pytracking/run_tracker.py (see pytracking/tracker/__init__.py).
        "pytracking.trackers": [],
        # Third-party network builders, builder(size) -> nn.Module (see ltr/models/registry.py).
        "ltr.networks": [],
    },
)
