"""Evaluation analysis: result-file loading, metrics under the pytracking / GOT-10k / pysot
conventions, comparison tables and plots.

Main entry points:

* :func:`pytracking.analysis.results_io.load_result_file` / ``load_tracker_results``
* :func:`pytracking.analysis.metrics.pytracking_curves`, ``got10k_ious``, ``pysot_curves``
* :func:`pytracking.analysis.evaluate.evaluate_tracker`
* :func:`pytracking.analysis.cli.main` (``pytracking/run_analysis.py``)
"""
