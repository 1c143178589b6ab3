"""Dataset readers against tiny fixtures in the official layouts."""
import os

import numpy as np
import pytest
import torch

from ltr.admin.environment import DatasetPathError
from ltr.data.image_loader import ImageReadError, imread_rgb
from ltr.dataset import Got10k, Lasot, MSCOCOSeq, TrackingNet, YouTubeVOS
from ltr.dataset._common import DatasetFileError, read_split_file
from ltr.dataset.coco_seq import decode_rle_string, rle_to_mask
from tests.fixtures import (build_coco, build_got10k, build_lasot, build_trackingnet, build_youtubevos,
                            coco_rle_encode, make_corrupt_jpeg)

pytestmark = pytest.mark.filterwarnings("ignore:.*are not on disk.*:RuntimeWarning")


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """No dataset paths from the developer's machine leak into these tests."""
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(tmp_path / "local_settings.py"))
    for key in list(os.environ):
        if key.startswith("SLT_") and key.endswith("_DIR"):
            monkeypatch.delenv(key)


def check_against(dataset, fixture, has_ratio=False):
    """Every sequence of ``dataset`` matches the fixture truth (boxes, visibility, frames, meta)."""
    names = [dataset.get_sequence_name(i) for i in range(dataset.get_num_sequences())]
    assert names == fixture.names
    for seq_id, name in enumerate(names):
        spec = fixture.sequences[name]
        info = dataset.get_sequence_info(seq_id)
        assert info["bbox"].dtype == torch.float32 and info["bbox"].shape == (len(spec.boxes), 4)
        assert torch.equal(info["bbox"], torch.from_numpy(spec.boxes))
        assert info["visible"].dtype == torch.bool
        assert info["visible"].tolist() == spec.visible.tolist()
        assert info["valid"].tolist() == (spec.boxes[:, 2:] > 0).all(axis=1).tolist()
        if has_ratio:
            assert np.allclose(info["visible_ratio"].numpy(), spec.visible_ratio)
        frame_ids = list(range(len(spec.boxes)))
        frames, anno, meta = dataset.get_frames(seq_id, frame_ids)
        assert len(frames) == len(frame_ids) and len(anno["bbox"]) == len(frame_ids)
        for f, frame in enumerate(frames):
            assert frame.shape == (24, 32, 3) and frame.dtype == np.uint8
            assert np.array_equal(frame, imread_rgb(spec.frame_paths[f]))
            assert torch.equal(anno["bbox"][f], torch.from_numpy(spec.boxes[f]))
        assert dict(meta) == spec.meta
        if dataset.has_class_info():
            assert dataset.get_class_name(seq_id) == spec.class_name
            assert seq_id in dataset.get_sequences_in_class(spec.class_name)
        if spec.masks is not None:
            assert dataset.has_mask()
            for f, mask in enumerate(anno["mask"]):
                assert mask.dtype == torch.float32 and mask.shape == (24, 32)
                assert np.array_equal(mask.numpy(), spec.masks[f])


# ---- shipped split lists -----------------------------------------------------------------------
def test_split_lists_shipped():
    train, test = read_split_file("lasot_train_split.txt"), read_split_file("lasot_test_split.txt")
    assert len(train) == 1120 and len(test) == 280 and not set(train) & set(test)
    assert len({n.rsplit("-", 1)[0] for n in train + test}) == 70
    vot_train = [int(i) for i in read_split_file("got10k_vot_train_split.txt")]
    vot_val = [int(i) for i in read_split_file("got10k_vot_val_split.txt")]
    assert len(vot_train) == 7086 and len(vot_val) == 1249 and not set(vot_train) & set(vot_val)
    assert max(vot_train + vot_val) < 9335


# ---- LaSOT ---------------------------------------------------------------------------------------
def test_lasot(tmp_path):
    fx = build_lasot(tmp_path / "lasot")
    ds = Lasot(str(fx.root))
    assert ds.get_name() == "LaSOT" and len(ds) == 3 and ds.is_video_sequence()
    assert ds.has_class_info() and ds.has_occlusion_info() and not ds.has_mask()
    assert ds.get_class_list() == ["airplane", "bear"]
    check_against(ds, fx)
    assert ds.get_sequences_in_class("airplane") == [0, 1]


def test_lasot_split_vid_ids_fraction_and_env_root(tmp_path, monkeypatch):
    fx = build_lasot(tmp_path / "lasot")
    assert Lasot(str(fx.root), split="train").sequence_list == ["airplane-2", "bear-3"]  # airplane-1 is test
    assert Lasot(str(fx.root), split="test").sequence_list == ["airplane-1"]
    assert Lasot(str(fx.root), vid_ids=[1, 3]).sequence_list == ["airplane-1", "bear-3"]
    assert len(Lasot(str(fx.root), data_fraction=0.5)) == 2
    monkeypatch.setenv("SLT_LASOT_DIR", str(fx.root))
    assert len(Lasot()) == 3
    with pytest.raises(ValueError, match="unknown split"):
        Lasot(str(fx.root), split="val")


def test_missing_root_errors_name_path_and_variable(tmp_path):
    with pytest.raises(DatasetPathError, match="SLT_LASOT_DIR"):
        Lasot()
    cases = [(Lasot, "SLT_LASOT_DIR"), (Got10k, "SLT_GOT10K_DIR"), (TrackingNet, "SLT_TRACKINGNET_DIR"),
             (MSCOCOSeq, "SLT_COCO_DIR"), (YouTubeVOS, "SLT_YOUTUBEVOS_DIR")]
    missing = tmp_path / "does_not_exist"
    for cls, var in cases:
        with pytest.raises(DatasetPathError) as info:
            cls(str(missing))
        assert str(missing) in str(info.value) and var in str(info.value)


def test_wrong_layout_errors_name_path_and_variable(tmp_path):
    wrong = tmp_path / "wrong"
    (wrong / "something").mkdir(parents=True)
    (wrong / "something" / "file.txt").write_text("x")
    cases = [(Lasot, "SLT_LASOT_DIR"), (Got10k, "SLT_GOT10K_DIR"), (TrackingNet, "SLT_TRACKINGNET_DIR"),
             (MSCOCOSeq, "SLT_COCO_DIR"), (YouTubeVOS, "SLT_YOUTUBEVOS_DIR")]
    for cls, var in cases:
        with pytest.raises(DatasetPathError) as info:
            cls(str(wrong))
        message = str(info.value)
        assert str(wrong) in message and var in message and "Expected" in message, (cls, message)


def test_corrupt_and_missing_frames_raise_naming_file(tmp_path):
    fx = build_lasot(tmp_path / "lasot")
    ds = Lasot(str(fx.root))
    broken = make_corrupt_jpeg(fx.sequences["bear-3"].frame_paths[1])
    with pytest.raises(ImageReadError) as info:
        ds.get_frames(2, [0, 1])
    assert str(broken) in str(info.value)
    fx.sequences["bear-3"].frame_paths[3].unlink()
    with pytest.raises(ImageReadError, match="00000004.jpg"):
        ds.get_frames(2, [3])
    with pytest.raises(IndexError, match="bear-3"):
        ds.get_frames(2, [99])


def test_bad_annotation_file_is_named(tmp_path):
    fx = build_lasot(tmp_path / "lasot")
    gt = fx.root / "bear" / "bear-3" / "groundtruth.txt"
    gt.write_text("1,2,3\n")
    with pytest.raises(DatasetFileError, match="groundtruth.txt"):
        Lasot(str(fx.root)).get_sequence_info(2)
    occ = fx.root / "airplane" / "airplane-1" / "full_occlusion.txt"
    occ.write_text("0,1\n")
    with pytest.raises(DatasetFileError, match="full_occlusion.txt"):
        Lasot(str(fx.root)).get_sequence_info(0)


# ---- GOT-10k -------------------------------------------------------------------------------------
def test_got10k_train_and_val(tmp_path):
    fx = build_got10k(tmp_path / "got10k")
    train = Got10k(str(tmp_path / "got10k"))
    assert train.get_name() == "GOT-10k" and len(train) == 3 and train.has_occlusion_info()
    check_against(train, fx["train"], has_ratio=True)
    assert train.get_class_list() == ["bird", "car", "person"]
    val = Got10k(str(tmp_path / "got10k"), split="val")
    check_against(val, fx["val"], has_ratio=True)
    # pytracking convention: root is the train folder itself
    assert Got10k(str(tmp_path / "got10k" / "train")).sequence_list == train.sequence_list


def test_got10k_vot_splits_and_seq_ids(tmp_path):
    build_got10k(tmp_path / "got10k")
    root = str(tmp_path / "got10k")
    assert Got10k(root, split="vottrain").sequence_list == ["GOT-10k_Train_000001", "GOT-10k_Train_000003"]
    assert Got10k(root, split="votval").sequence_list == ["GOT-10k_Train_000002"]
    assert Got10k(root, seq_ids=[2]).sequence_list == ["GOT-10k_Train_000003"]


def test_got10k_without_list_file(tmp_path):
    fx = build_got10k(tmp_path / "g", splits={"train": ["GOT-10k_Train_000005", "GOT-10k_Train_000004"]},
                      write_list=False)
    assert Got10k(str(tmp_path / "g")).sequence_list == ["GOT-10k_Train_000004", "GOT-10k_Train_000005"]
    assert fx["train"].root.is_dir()


# ---- TrackingNet ---------------------------------------------------------------------------------
def test_trackingnet(tmp_path):
    fx = build_trackingnet(tmp_path / "tn")
    ds = TrackingNet(str(fx.root))
    assert ds.get_name() == "TrackingNet" and not ds.has_class_info() and ds.set_ids == [0, 1]
    check_against(ds, fx)
    assert len(TrackingNet(str(fx.root), set_ids=[1])) == 1
    with pytest.raises(DatasetPathError, match="TRAIN_5"):
        TrackingNet(str(fx.root), set_ids=[0, 5])


# ---- COCO ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["images", "flat"])
def test_coco_as_sequences(tmp_path, layout):
    fx = build_coco(tmp_path / "coco", layout=layout)
    ds = MSCOCOSeq(str(fx.root))
    assert not ds.is_video_sequence() and ds.has_mask() and ds.has_class_info()
    assert len(ds) == 4  # crowd and zero-width objects are not sequences
    assert ds.get_class_list() == ["car", "person"]
    check_against(ds, fx)
    frames, anno, _ = ds.get_frames(0, [0, 0, 0])
    assert len(frames) == 3 and frames[0] is not frames[1] and np.array_equal(frames[0], frames[2])


def test_coco_rle_round_trip():
    rng = np.random.default_rng(1)
    mask = (rng.random((13, 17)) > 0.6).astype(np.uint8)
    rle = coco_rle_encode(mask)
    assert np.array_equal(rle_to_mask(decode_rle_string(rle["counts"]), 13, 17), mask)
    with pytest.raises(ValueError):
        rle_to_mask([3, 4], 5, 5)


# ---- YouTube-VOS ---------------------------------------------------------------------------------
def test_youtubevos(tmp_path):
    fx = build_youtubevos(tmp_path / "ytvos")
    ds = YouTubeVOS(str(fx.root))
    assert ds.has_mask() and ds.has_class_info() and ds.is_video_sequence()
    assert ds.get_class_list() == ["cat", "dog", "person"]
    check_against(ds, fx)
    # the object that appears late starts at its first annotated frame and then disappears
    dog = ds.get_sequence_info(1)
    assert dog["visible"].tolist() == [True, False] and dog["valid"].tolist() == [True, False]
    # root may also be the train folder
    assert len(YouTubeVOS(str(fx.root / "train"))) == 3


def test_youtubevos_corrupt_annotation_named(tmp_path):
    fx = build_youtubevos(tmp_path / "ytvos")
    png = fx.root / "train" / "Annotations" / "ffee001122" / "00005.png"
    png.write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match="00005.png"):
        YouTubeVOS(str(fx.root)).get_sequence_info(2)


def test_got10k_split_folder_is_not_mistaken_for_another(tmp_path):
    build_got10k(tmp_path / "got10k")
    with pytest.raises(DatasetPathError, match="'val'"):
        Got10k(str(tmp_path / "got10k" / "train"), split="val")
    assert Got10k(str(tmp_path / "got10k" / "val"), split="val").sequence_list == ["GOT-10k_Val_000001"]
