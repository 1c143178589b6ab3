"""Settings that name their tracker by registered names instead of living in a folder per tracker.

``generic slt`` fine-tunes any registered network with SLT through its registered adapter::

    python ltr/run_training.py generic slt --checkpoint flt.pth --set network=mytracker --set model_size=tiny

See :mod:`ltr.train_settings.generic.slt` and docs/own_tracker.md.
"""
