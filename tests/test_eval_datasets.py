"""Evaluation datasets: official layouts, annotation-only loading, registry and error messages.

Also provides the small on-disk dataset writers the analysis tests reuse.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import pytest

from ltr.admin.environment import DatasetPathError
from pytracking.evaluation.data import Sequence as EvalSequence
from pytracking.evaluation.datasets import canonical_dataset_name, get_dataset, list_datasets, load_dataset
from pytracking.evaluation.lasotdataset import lasot_test_sequence_names
from pytracking.evaluation.otbdataset import otb_sequence_info


# ---------------------------------------------------------------------------------------------
# Writers for tiny datasets in the official layouts (no images unless asked for)
# ---------------------------------------------------------------------------------------------

def _write_rows(path: Path, rows: np.ndarray, delimiter: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(delimiter.join(f"{v:g}" for v in row) + "\n" for row in np.atleast_2d(rows)))


def write_got10k_layout(split_dir: Path, sequences: Dict[str, dict], touch_images: bool = False,
                        attributes: Optional[dict] = None) -> None:
    """Write ``split_dir/list.txt`` and one GOT-10k folder per sequence.

    Each value holds 'gt' (N, 4) and optionally 'cover' (N,), 'absence' (N,), 'resolution' (W, H),
    'first_only' (write only the first box, like the test split).
    """
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / "list.txt").write_text("\n".join(sequences) + "\n")
    for name, spec in sequences.items():
        seq_dir = split_dir / name
        gt = np.asarray(spec["gt"], dtype=float)
        _write_rows(seq_dir / "groundtruth.txt", gt[:1] if spec.get("first_only") else gt)
        if "cover" in spec:
            (seq_dir / "cover.label").write_text("".join(f"{int(v)}\n" for v in spec["cover"]))
        if "absence" in spec:
            (seq_dir / "absence.label").write_text("".join(f"{int(v)}\n" for v in spec["absence"]))
            (seq_dir / "cut_by_image.label").write_text("".join("0\n" for _ in spec["absence"]))
        if "resolution" in spec:
            w, h = spec["resolution"]
            (seq_dir / "meta_info.ini").write_text(
                f"[METAINFO]\nurl: none\nobject_class: {spec.get('object_class', 'ball')}\n"
                f"anno_fps: 10Hz\nresolution: ({w}, {h})\n")
        if touch_images or spec.get("first_only"):
            for i in range(1, len(gt) + 1):
                (seq_dir / f"{i:08d}.jpg").touch()
    if attributes is not None:
        (split_dir / "attributes.json").write_text(json.dumps(attributes))


def random_got10k_sequences(rng: np.random.Generator, count: int, min_len: int = 5, max_len: int = 40,
                            prefix: str = "GOT-10k_Val_") -> Dict[str, dict]:
    """Random sequences with covers (some 0), absences and resolutions; boxes partly off-image."""
    out = {}
    for k in range(count):
        n = int(rng.integers(min_len, max_len))
        w, h = int(rng.integers(60, 200)), int(rng.integers(60, 200))
        gt = np.c_[rng.integers(-10, w, n), rng.integers(-10, h, n), rng.integers(1, 60, n), rng.integers(1, 60, n)]
        cover = rng.integers(0, 9, n)
        cover[0] = 8
        out[f"{prefix}{k + 1:06d}"] = {"gt": gt.astype(float), "cover": cover, "absence": (cover == 0).astype(int),
                                        "resolution": (w, h)}
    return out


def write_lasot_layout(root: Path, name: str, gt: np.ndarray, occlusion: Sequence[int],
                       out_of_view: Sequence[int]) -> None:
    """One LaSOT sequence folder (no images)."""
    seq_dir = root / name.rsplit("-", 1)[0] / name
    _write_rows(seq_dir / "groundtruth.txt", gt)
    (seq_dir / "full_occlusion.txt").write_text(",".join(str(int(v)) for v in occlusion))
    (seq_dir / "out_of_view.txt").write_text(",".join(str(int(v)) for v in out_of_view) + "\n")


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def no_image_reads(monkeypatch):
    """Fail the test if anything tries to open an image."""
    import cv2
    from PIL import Image

    def refuse(*args, **kwargs):
        raise AssertionError("an image was opened while loading annotations")

    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr(cv2, "imread", refuse)


def test_registry_lists_and_resolves_names():
    names = list_datasets()
    for expected in ("lasot", "got10k_val", "got10k_test", "trackingnet", "otb", "synthetic"):
        assert expected in names
    assert canonical_dataset_name("OTB100") == "otb"
    with pytest.raises(KeyError, match="unknown dataset 'vot2099'"):
        get_dataset("vot2099")


def test_official_lists_shipped():
    lasot = lasot_test_sequence_names()
    assert len(lasot) == 280 and len(set(lasot)) == 280
    assert len({n.rsplit("-", 1)[0] for n in lasot}) == 70  # 4 test videos per class
    otb = otb_sequence_info()
    assert len(otb) == 100 and len({d["name"] for d in otb}) == 100
    tiger = next(d for d in otb if d["name"] == "Tiger1")
    assert tiger["initOmit"] == 5


def test_lasot_layout_visibility_and_no_images(tmp_path, no_image_reads):
    gt = np.array([[1, 2, 30, 40], [2, 3, 30, 40], [0, 0, 0, 0], [4, 5, 30, 40]], dtype=float)
    write_lasot_layout(tmp_path, "airplane-1", gt, occlusion=[0, 1, 0, 0], out_of_view=[0, 0, 1, 0])
    write_lasot_layout(tmp_path, "bear-2", gt[:2], occlusion=[0, 0], out_of_view=[0, 0])
    seqs = get_dataset("lasot", str(tmp_path), sequences=["airplane-1", "bear-2"])
    seq = seqs["airplane-1"]
    assert seq.dataset == "lasot" and seq.object_class == "airplane"
    np.testing.assert_array_equal(seq.ground_truth_rect, gt)
    np.testing.assert_array_equal(seq.target_visible, [True, False, False, True])
    assert seq.frames[0] == str(tmp_path / "airplane" / "airplane-1" / "img" / "00000001.jpg")
    assert len(seq.frames) == 4 and len(seqs["bear-2"].frames) == 2


def test_lasot_missing_sequences_error_names_fix(tmp_path):
    write_lasot_layout(tmp_path, "airplane-1", np.ones((2, 4)), [0, 0], [0, 0])
    with pytest.raises(DatasetPathError) as info:
        get_dataset("lasot", str(tmp_path))
    message = str(info.value)
    assert "279 of 280" in message and "lasot_dir" in message and "sequences=" in message


def test_unconfigured_root_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(tmp_path / "local.py"))
    monkeypatch.delenv("SLT_GOT10K_DIR", raising=False)
    with pytest.raises(DatasetPathError, match="got10k_dir"):
        get_dataset("got10k_val")
    with pytest.raises(DatasetPathError, match="does not exist"):
        get_dataset("got10k_val", str(tmp_path / "nowhere"))


def test_got10k_val_reads_labels_and_meta(tmp_path, no_image_reads):
    gt = np.array([[1, 1, 10, 10], [2, 2, 10, 10], [3, 3, 10, 10]], dtype=float)
    write_got10k_layout(tmp_path / "val", {"GOT-10k_Val_000001": {
        "gt": gt, "cover": [8, 0, 3], "absence": [0, 1, 0], "resolution": (640, 480), "object_class": "tiger"}})
    seq = get_dataset("got10k_val", str(tmp_path))[0]
    assert seq.dataset == "got10k" and seq.name == "GOT-10k_Val_000001"
    assert seq.image_size == (480, 640)  # (H, W) from 'resolution: (W, H)'
    assert seq.object_class == "tiger"
    np.testing.assert_array_equal(seq.cover, [8, 0, 3])
    np.testing.assert_array_equal(seq.absent, [False, True, False])
    assert seq.target_visible is None  # as in pytracking: the pytracking protocol ignores GOT-10k visibility
    assert seq.frames[2].endswith("GOT-10k_Val_000001/00000003.jpg")
    assert seq.has_full_ground_truth


def test_got10k_test_counts_frames_from_folder(tmp_path):
    write_got10k_layout(tmp_path / "test", {"GOT-10k_Test_000001": {
        "gt": np.tile([5, 5, 20, 20], (7, 1)), "first_only": True}})
    seq = get_dataset("got10k_test", str(tmp_path))[0]
    assert len(seq.frames) == 7 and seq.ground_truth_rect.shape == (1, 4)
    assert not seq.has_full_ground_truth
    assert seq.init_info() == {"init_bbox": [5.0, 5.0, 20.0, 20.0]}


def test_trackingnet_frames_sorted_numerically(tmp_path):
    frames = tmp_path / "TEST" / "frames" / "seqA"
    frames.mkdir(parents=True)
    for i in range(12):
        (frames / f"{i}.jpg").touch()
    _write_rows(tmp_path / "TEST" / "anno" / "seqA.txt", np.array([[1, 2, 3, 4]]))
    seq = get_dataset("trackingnet", str(tmp_path))[0]
    assert seq.dataset == "trackingnet" and len(seq.frames) == 12
    assert [Path(f).name for f in seq.frames[9:12]] == ["9.jpg", "10.jpg", "11.jpg"]


def test_otb_table_layout_and_init_omit(tmp_path, no_image_reads):
    info = {d["name"]: d for d in otb_sequence_info()}
    tiger = info["Tiger1"]
    gt = np.c_[np.arange(tiger["endFrame"]), np.zeros(tiger["endFrame"]), np.full(tiger["endFrame"], 5),
               np.full(tiger["endFrame"], 6)]
    _write_rows(tmp_path / tiger["anno_path"], gt, delimiter="\t")  # OTB mixes tabs and commas
    david = info["David"]
    n_david = david["endFrame"] - david["startFrame"] + 1
    _write_rows(tmp_path / david["anno_path"], np.tile([1, 2, 3, 4], (n_david, 1)), delimiter=" ")
    seqs = get_dataset("otb", str(tmp_path), sequences=["Tiger1", "David"])
    t1 = seqs["Tiger1"]
    assert len(t1.frames) == 349 and len(t1.ground_truth_rect) == 349
    assert t1.ground_truth_rect[0, 0] == 5  # the first 5 frames are omitted, as in pytracking
    assert t1.frames[0].endswith("Tiger1/img/0006.jpg")
    assert seqs["David"].frames[0].endswith("David/img/0300.jpg") and len(seqs["David"].frames) == n_david


def test_synthetic_layout_attributes(tmp_path):
    specs = {"Seq0001": {"gt": np.tile([4, 4, 8, 8], (3, 1)), "cover": [8, 8, 0], "absence": [0, 0, 1],
                         "resolution": (64, 48)},
             "Seq0002": {"gt": np.tile([1, 1, 8, 8], (2, 1)), "cover": [8, 8], "absence": [0, 0],
                         "resolution": (64, 48)}}
    write_got10k_layout(tmp_path / "test", specs,
                        attributes={"Seq0001": {"occlusion": True, "distractors": 2}, "Seq0002": ["fast_motion"]})
    seqs = get_dataset("synthetic", str(tmp_path))
    assert [s.dataset for s in seqs] == ["synthetic", "synthetic"]
    assert seqs["Seq0001"].attributes == {"occlusion": True, "distractors": 2}
    assert seqs["Seq0002"].attributes == {"fast_motion": True}
    assert load_dataset("synthetic", str(tmp_path)).name == "synthetic"


def test_image_size_is_lazy_header_read(tmp_path):
    import cv2
    image_path = tmp_path / "00000001.jpg"
    cv2.imwrite(str(image_path), np.zeros((30, 50, 3), dtype=np.uint8))
    seq = EvalSequence("s", [str(image_path)], "got10k", [[0, 0, 5, 5]])
    assert seq.image_size is None
    assert seq.get_image_size() == (30, 50)
    missing = EvalSequence("m", [str(tmp_path / "none.jpg")], "got10k", [[0, 0, 5, 5]])
    assert missing.get_image_size() is None


def test_malformed_annotation_names_file_and_line(tmp_path):
    from pytracking.analysis.textio import TableFormatError
    write_got10k_layout(tmp_path / "val", {"GOT-10k_Val_000001": {"gt": np.ones((3, 4)), "resolution": (9, 9)}})
    anno = tmp_path / "val" / "GOT-10k_Val_000001" / "groundtruth.txt"
    anno.write_text("1,1,5,5\n1,1,5\n1,1,5,5\n")
    with pytest.raises(TableFormatError, match=r"groundtruth.txt, line 2: expected 4 numbers"):
        get_dataset("got10k_val", str(tmp_path))
