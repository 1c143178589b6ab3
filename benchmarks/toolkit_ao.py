"""AO on a LaSOT-layout folder the way the got10k toolkit computes it (timed as a whole process).

    python benchmarks/toolkit_ao.py ROOT RESULTS_DIR [--bound-from-first-frame]

What ``ExperimentGOT10k.report`` does after finding the files, on LaSOT's layout: each
sequence's ``groundtruth.txt`` and ``RESULTS_DIR/<sequence>.txt`` read with ``np.loadtxt``
(comma-delimited, as the toolkit reads both), ``rect_iou`` on all frames but the first (clipped
to the image when ``--bound-from-first-frame``: its size read with PIL, as the toolkit reads
the resolution), the IoUs pooled and ``ExperimentGOT10k._evaluate``. Sequences are the result
files present. Imports only the toolkit and numpy, so its start-up cost is the toolkit's own.
Prints the AO in percent.
"""
import os
import sys

import numpy as np
from got10k.experiments.got10k import ExperimentGOT10k
from got10k.utils.metrics import rect_iou


def main(argv):
    root, results_dir = argv[0], argv[1]
    bounded = "--bound-from-first-frame" in argv[2:]
    names = sorted(n[:-4] for n in os.listdir(results_dir) if n.endswith(".txt"))
    ious = []
    for name in names:
        seq_dir = os.path.join(root, name.rsplit("-", 1)[0], name)
        anno = np.loadtxt(os.path.join(seq_dir, "groundtruth.txt"), delimiter=",")
        boxes = np.loadtxt(os.path.join(results_dir, name + ".txt"), delimiter=",")
        bound = None
        if bounded:
            from PIL import Image
            with Image.open(os.path.join(seq_dir, "img", "00000001.jpg")) as image:
                bound = image.size
        ious.append(rect_iou(boxes[1:], anno[1:], bound=bound))
    ao = ExperimentGOT10k._evaluate(None, np.concatenate(ious), np.array([]))[0]
    print(f"AO {float(100.0 * ao)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
