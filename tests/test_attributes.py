"""Attribute-wise analysis: subset scores add up, LaSOT toolkit attribute files, synthetic attributes, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tests.doubles  # noqa: F401  (registers the 'double' tracker)
from pytracking.analysis.attributes import (LASOT_ATTRIBUTES, SYNTHETIC_ATTRIBUTES, AttributeDataError,
                                            attribute_table, find_lasot_attribute_dir, format_attribute_table,
                                            load_lasot_attributes, main, read_lasot_attribute_file)
from pytracking.analysis.evaluate import TrackerEvaluation, evaluate_tracker
from pytracking.analysis.metrics import CurveSet, OVERLAP_THRESHOLDS
from pytracking.evaluation.datasets import get_dataset


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(tmp_path / "local_settings.py"))
    monkeypatch.setenv("SLT_RESULTS_DIR", str(tmp_path / "results"))


def _random_evaluation(name: str, count: int, rng: np.random.Generator) -> TrackerEvaluation:
    names = [f"s{i}" for i in range(count)]
    # Monotone per-sequence curves, as real success / precision curves are.
    success = np.sort(rng.uniform(0, 1, (count, len(OVERLAP_THRESHOLDS))), axis=1)[:, ::-1]
    precision = np.sort(rng.uniform(0, 1, (count, 51)), axis=1)
    norm_precision = np.sort(rng.uniform(0, 1, (count, 51)), axis=1)
    return TrackerEvaluation(name=name, sequences=names,
                             pytracking=CurveSet("pytracking", names, success, precision, norm_precision))


@pytest.mark.parametrize("metric", ["AUC", "Precision", "NormPrecision"])
def test_with_and_without_subsets_recombine_to_the_overall_score(metric):
    rng = np.random.default_rng(1)
    evaluations = [_random_evaluation("A", 23, rng), _random_evaluation("B", 23, rng)]
    attributes = {f"s{i}": {"x": bool(rng.random() < 0.3), "y": bool(rng.random() < 0.7), "never": False}
                  for i in range(23)}
    table = attribute_table(evaluations, attributes, ["x", "y", "never"], metric=metric)
    n = len(table.sequences)
    for tracker in table.trackers:
        overall = evaluations[table.trackers.index(tracker)].pytracking.scores()[metric]
        assert table.overall[tracker] == pytest.approx(overall)
        for attr in ("x", "y"):
            k = table.counts[attr]
            assert 0 < k < n
            combined = (k * table.with_attribute[tracker][attr]
                        + (n - k) * table.without_attribute[tracker][attr]) / n
            assert combined == pytest.approx(overall)
        # An attribute no sequence has: no score; its complement is everything.
        assert np.isnan(table.with_attribute[tracker]["never"])
        assert table.without_attribute[tracker]["never"] == pytest.approx(overall)
    gain = table.gain("B", "A")
    assert gain["x"] == pytest.approx(table.with_attribute["B"]["x"] - table.with_attribute["A"]["x"])
    assert gain["ALL"] == pytest.approx(table.overall["B"] - table.overall["A"])
    text = format_attribute_table(table, [("B", "A")])
    assert "ALL" in text and "B - A" in text and "n/a" in text


def test_attribute_table_rejects_mismatched_inputs():
    rng = np.random.default_rng(0)
    a, b = _random_evaluation("A", 4, rng), _random_evaluation("B", 5, rng)
    with pytest.raises(ValueError, match="other sequences"):
        attribute_table([a, b], {f"s{i}": {} for i in range(5)})
    with pytest.raises(ValueError, match="no attribute annotation"):
        attribute_table([a], {"s0": {"x": True}})
    with pytest.raises(ValueError, match="unknown metric"):
        attribute_table([a], {f"s{i}": {} for i in range(4)}, metric="AO")


# ---------------------------------------------------------------------------------- LaSOT files
def _write_lasot(root: Path, names, rng: np.random.Generator, frames: int = 8):
    """LaSOT sequence folders (no images: the pytracking protocol never opens them)."""
    gts = {}
    for name in names:
        seq_dir = root / name.rsplit("-", 1)[0] / name
        seq_dir.mkdir(parents=True)
        gt = np.column_stack([rng.uniform(10, 50, frames), rng.uniform(10, 50, frames),
                              rng.uniform(10, 30, frames), rng.uniform(10, 30, frames)]).round(1)
        (seq_dir / "groundtruth.txt").write_text("".join(",".join(f"{v:g}" for v in row) + "\n" for row in gt))
        (seq_dir / "full_occlusion.txt").write_text(",".join(["0"] * frames))
        (seq_dir / "out_of_view.txt").write_text(",".join(["0"] * (frames - 1) + ["1"]) + "\n")
        gts[name] = gt
    return gts


def _write_results(folder: Path, gts, rng: np.random.Generator, noise: float):
    folder.mkdir(parents=True)
    for name, gt in gts.items():
        pred = gt + rng.normal(0, noise, gt.shape)
        (folder / f"{name}.txt").write_text("".join(",".join(f"{v:.3f}" for v in row) + "\n" for row in pred))


def test_lasot_attributes_from_the_toolkit_layout(tmp_path, capsys):
    rng = np.random.default_rng(3)
    names = ["airplane-1", "airplane-13", "bear-2", "cat-3", "dog-7"]
    root = tmp_path / "LaSOT"
    gts = _write_lasot(root, names, rng)
    att = root / "annos" / "att"
    att.mkdir(parents=True)
    flags = {n: rng.integers(0, 2, len(LASOT_ATTRIBUTES)) for n in names}
    flags["airplane-1"][1] = flags["bear-2"][1] = 1  # POC on at least two
    for n in names:
        (att / f"{n}.txt").write_text(",".join(str(int(v)) for v in flags[n]) + "\n")  # the toolkit's format
    _write_results(tmp_path / "flt", gts, rng, noise=4.0)
    _write_results(tmp_path / "slt", gts, rng, noise=1.0)
    seq_list = tmp_path / "list.txt"
    seq_list.write_text("\n".join(names) + "\n")

    assert find_lasot_attribute_dir(str(root)) == att.resolve()
    loaded = load_lasot_attributes(att, names)
    assert loaded["airplane-1"]["POC"] is True
    assert [a for a, _ in LASOT_ATTRIBUTES][1] == "POC" and len(loaded["dog-7"]) == 14

    out_json, plot = tmp_path / "att.json", tmp_path / "gain.png"
    code = main(["--dataset", "lasot", "--dataset-root", str(root), "--sequence-list", str(seq_list),
                 "--results-dir", str(tmp_path / "flt"), "--name", "FLT", "--results-dir", str(tmp_path / "slt"),
                 "--name", "SLT", "--gain", "SLT:FLT", "--json", str(out_json), "--plot", str(plot)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Partial Occlusion (POC)" in captured.out and "SLT - FLT" in captured.out
    assert plot.is_file() and plot.stat().st_size > 0
    data = json.loads(out_json.read_text())
    rows = {r["attribute"]: r for r in data["attributes"]}
    assert [r["attribute"] for r in data["attributes"]] == [a for a, _ in LASOT_ATTRIBUTES]
    for index, (abbr, label) in enumerate(LASOT_ATTRIBUTES):
        have = [n for n in names if flags[n][index] > 0]
        assert rows[abbr]["sequences"] == len(have) and rows[abbr]["label"] == label
        if have:
            # Independent check: evaluate only that subset, the usual way.
            seqs = get_dataset("lasot", str(root), sequences=have)
            boxes = {s.name: np.loadtxt(tmp_path / "slt" / f"{s.name}.txt", delimiter=",") for s in seqs}
            expected = evaluate_tracker(seqs, boxes, protocols=("pytracking",)).summary()["AUC"]
            assert rows[abbr]["with"]["SLT"] == pytest.approx(expected)
            assert rows[abbr]["gains"]["SLT-FLT"] == pytest.approx(rows[abbr]["with"]["SLT"] - rows[abbr]["with"]["FLT"])
        else:
            assert rows[abbr]["with"]["SLT"] is None


def test_lasot_attribute_errors_name_the_file_and_the_fix(tmp_path, capsys):
    with pytest.raises(AttributeDataError, match="annos/att"):
        find_lasot_attribute_dir(str(tmp_path))
    bad = tmp_path / "x.txt"
    bad.write_text("0,1,0\n")
    with pytest.raises(AttributeDataError, match="x.txt: 3 values"):
        read_lasot_attribute_file(bad)
    bad.write_text("0,1,zero\n")
    with pytest.raises(AttributeDataError, match="x.txt"):
        read_lasot_attribute_file(bad)
    with pytest.raises(AttributeDataError, match="no attribute file for 1 of 1"):
        load_lasot_attributes(tmp_path, ["cat-1"])

    rng = np.random.default_rng(0)
    root = tmp_path / "LaSOT"
    gts = _write_lasot(root, ["cat-1"], rng)
    _write_results(tmp_path / "r", gts, rng, noise=1.0)
    (tmp_path / "l.txt").write_text("cat-1\n")
    code = main(["--dataset", "lasot", "--dataset-root", str(root), "--sequence-list", str(tmp_path / "l.txt"),
                 "--results-dir", str(tmp_path / "r")])
    assert code == 1 and "--attributes-dir" in capsys.readouterr().err


# ------------------------------------------------------------------------------ synthetic split
def test_synthetic_attributes_table_and_plot(tmp_path, capsys):
    from ltr.util_scripts.make_synthetic import write_got10k_layout
    from pytracking.evaluation.running import run_dataset
    from pytracking.evaluation.tracker import Tracker

    root = tmp_path / "synthetic"
    write_got10k_layout(root, "test", num_videos=6, frames=10, seed=0, quiet=True)
    sequences = get_dataset("synthetic", root=str(root))
    trackers = [Tracker("double", "default", results_root=str(tmp_path / "res")),
                Tracker("double", "default", run_id=1, results_root=str(tmp_path / "res"))]
    # The second run shifts every box by 3 px (the double's "checkpoint" is an x offset): another tracker.
    run_dataset(sequences, trackers[:1], print_summary=False)
    shift = tmp_path / "shift.txt"
    shift.write_text("3\n")
    run_dataset(sequences, [Tracker("double", "default", run_id=1, checkpoint=str(shift),
                                    results_root=str(tmp_path / "res"))], print_summary=False)
    capsys.readouterr()

    out_json, plot = tmp_path / "syn.json", tmp_path / "syn.png"
    code = main(["--dataset", "synthetic", "--dataset-root", str(root), "--results-dir", trackers[0].results_dir,
                 "--name", "A", "--results-dir", trackers[1].results_dir, "--name", "B", "--plot", str(plot),
                 "--json", str(out_json)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(out_json.read_text())
    assert [r["attribute"] for r in data["attributes"]] == list(SYNTHETIC_ATTRIBUTES)
    assert data["gains_overall"].keys() == {"B-A"}  # --plot with two trackers: last over first
    assert data["gains_overall"]["B-A"] != 0
    truth = json.loads((root / "test" / "attributes.json").read_text())
    for row in data["attributes"]:
        assert row["sequences"] == sum(bool(v[row["attribute"]]) for v in truth.values())
        n, k = data["sequences"], row["sequences"]
        if 0 < k < n:
            combined = (k * row["with"]["A"] + (n - k) * row["without"]["A"]) / n
            assert combined == pytest.approx(data["overall"]["A"])
    assert plot.is_file()

    # --attributes picks others (and any attribute in attributes.json can be asked for).
    code = main(["--dataset", "synthetic", "--dataset-root", str(root), "--results-dir", trackers[0].results_dir,
                 "--attributes", "full_occlusion,aspect_change"])
    assert code == 0
    assert "full_occlusion" in capsys.readouterr().out


def test_bad_gain_spec_is_a_clear_error(tmp_path, capsys):
    from ltr.util_scripts.make_synthetic import write_got10k_layout
    root = tmp_path / "synthetic"
    write_got10k_layout(root, "test", num_videos=2, frames=6, seed=0, quiet=True)
    results = tmp_path / "r"
    results.mkdir()
    for seq in get_dataset("synthetic", root=str(root)):
        np.savetxt(results / f"{seq.name}.txt", seq.ground_truth_rect, delimiter=",")
    code = main(["--dataset", "synthetic", "--dataset-root", str(root), "--results-dir", str(results),
                 "--name", "A", "--gain", "B:A"])
    assert code == 1 and "no tracker named 'B'" in capsys.readouterr().err
