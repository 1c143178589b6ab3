"""Moved: ``python ltr/run_experiment.py sweep`` (this forwarder goes in the next release)."""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # noqa: E702
from ltr.experiments.sweep import main; sys.exit(main()) if __name__ == "__main__" else None  # noqa: E702
