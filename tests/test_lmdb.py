"""LMDB packing: round trip identical to the folder readers, subsets, errors, the command line."""
import os
import pickle

import numpy as np
import pytest
import torch

from ltr.admin.environment import DatasetPathError
from ltr.data.image_loader import ImageReadError, opencv_loader
from ltr.dataset import (Got10k, Got10k_lmdb, Lasot, Lasot_lmdb, LmdbDataset, MSCOCOSeq, MSCOCOSeq_lmdb, TrackingNet,
                         TrackingNet_lmdb, YouTubeVOS, YouTubeVOS_lmdb, pack_dataset)
from ltr.util_scripts import pack_lmdb
from tests.fixtures import (build_coco, build_got10k, build_lasot, build_trackingnet, build_youtubevos,
                            make_corrupt_jpeg)

pytestmark = pytest.mark.filterwarnings("ignore:.*are not on disk.*:RuntimeWarning")


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(tmp_path / "local_settings.py"))
    for key in list(os.environ):
        if key.startswith("SLT_") and key.endswith("_DIR"):
            monkeypatch.delenv(key)


def assert_same(folder, packed):
    """Every frame, annotation, mask and meta of every sequence is identical."""
    assert packed.get_num_sequences() == folder.get_num_sequences()
    assert packed.is_video_sequence() == folder.is_video_sequence()
    assert packed.has_mask() == folder.has_mask()
    assert packed.has_class_info() == folder.has_class_info()
    assert packed.has_occlusion_info() == folder.has_occlusion_info()
    assert packed.get_class_list() == folder.get_class_list()
    for seq_id in range(folder.get_num_sequences()):
        assert packed.get_sequence_name(seq_id) == folder.get_sequence_name(seq_id)
        info_f, info_p = folder.get_sequence_info(seq_id), packed.get_sequence_info(seq_id)
        assert info_f.keys() == info_p.keys()
        for key in info_f:
            assert info_f[key].dtype == info_p[key].dtype and torch.equal(info_f[key], info_p[key]), key
        frame_ids = list(range(len(info_f["bbox"])))
        frames_f, anno_f, meta_f = folder.get_frames(seq_id, frame_ids)
        frames_p, anno_p, meta_p = packed.get_frames(seq_id, frame_ids)
        assert len(frames_f) == len(frames_p)
        for a, b in zip(frames_f, frames_p):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        assert anno_f.keys() == anno_p.keys()
        for key in anno_f:
            for a, b in zip(anno_f[key], anno_p[key]):
                assert a.dtype == b.dtype and torch.equal(a, b), key
        assert meta_f == meta_p and list(meta_f) == list(meta_p)
        if folder.has_class_info():
            assert packed.get_class_name(seq_id) == folder.get_class_name(seq_id)
    for cls in folder.get_class_list():
        assert packed.get_sequences_in_class(cls) == folder.get_sequences_in_class(cls)


def test_round_trip_every_dataset(tmp_path):
    build_lasot(tmp_path / "lasot")
    build_got10k(tmp_path / "got10k")
    build_trackingnet(tmp_path / "tn")
    build_coco(tmp_path / "coco")
    build_youtubevos(tmp_path / "yt")
    cases = [
        (Lasot(str(tmp_path / "lasot")), Lasot_lmdb),
        (Got10k(str(tmp_path / "got10k")), Got10k_lmdb),
        (TrackingNet(str(tmp_path / "tn")), TrackingNet_lmdb),
        (MSCOCOSeq(str(tmp_path / "coco")), MSCOCOSeq_lmdb),
        (YouTubeVOS(str(tmp_path / "yt")), YouTubeVOS_lmdb),
    ]
    for folder, lmdb_cls in cases:
        out = pack_dataset(folder, tmp_path / "lmdb" / folder.get_name(), progress=False)
        assert (out / "data.mdb").is_file()
        assert not list((tmp_path / "lmdb").glob("*.partial-*"))
        assert_same(folder, LmdbDataset(str(out)))
        assert_same(folder, lmdb_cls(str(out)))
    # COCO images are stored once although several objects share them
    coco = LmdbDataset(str(tmp_path / "lmdb" / "COCO"))
    assert coco.get_frame_key(0, 0) == coco.get_frame_key(1, 0) == "img/images/train2017/000000000001.jpg"


def test_original_bytes_are_stored(tmp_path):
    fx = build_lasot(tmp_path / "lasot", sequences=("cat-2",), num_frames=2)
    packed = LmdbDataset(str(pack_dataset(Lasot(str(fx.root)), tmp_path / "db", progress=False)))
    key = packed.get_frame_key(0, 1)
    assert key == "img/cat/cat-2/img/00000002.jpg"
    assert packed._get(key) == fx.sequences["cat-2"].frame_paths[1].read_bytes()
    # an OpenCV-forced loader maps to the OpenCV bytes decoder
    forced = pickle.loads(pickle.dumps(LmdbDataset(str(tmp_path / "db"), image_loader=opencv_loader)))
    assert forced.get_frames(0, [0])[0][0].shape == (24, 32, 3)


def test_split_selection_matches_folder(tmp_path):
    build_lasot(tmp_path / "lasot")
    build_got10k(tmp_path / "got10k")
    lasot_db = pack_dataset(Lasot(str(tmp_path / "lasot")), tmp_path / "lasot_db", progress=False)
    assert_same(Lasot(str(tmp_path / "lasot"), split="train"), Lasot_lmdb(str(lasot_db), split="train"))
    assert_same(Lasot(str(tmp_path / "lasot"), vid_ids=[1, 3]), Lasot_lmdb(str(lasot_db), vid_ids=[1, 3]))
    assert_same(Lasot(str(tmp_path / "lasot"), data_fraction=0.5), Lasot_lmdb(str(lasot_db), data_fraction=0.5))
    got_db = pack_dataset(Got10k(str(tmp_path / "got10k")), tmp_path / "got_db", progress=False)
    assert_same(Got10k(str(tmp_path / "got10k"), split="vottrain"), Got10k_lmdb(str(got_db), split="vottrain"))
    assert Got10k_lmdb(str(got_db), split="votval").sequence_list == ["GOT-10k_Train_000002"]


def test_subset_overwrite_pickle_and_env_default(tmp_path, monkeypatch):
    build_trackingnet(tmp_path / "tn")
    folder = TrackingNet(str(tmp_path / "tn"))
    out = pack_dataset(folder, tmp_path / "db", sequences=[2, 0], progress=False)
    packed = TrackingNet_lmdb(str(out))
    assert packed.sequence_list == ["TRAIN_1/ccc_video_3", "TRAIN_0/aaa_video_1"]
    assert TrackingNet_lmdb(str(out), set_ids=[0]).sequence_list == ["TRAIN_0/aaa_video_1"]
    with pytest.raises(FileExistsError):
        pack_dataset(folder, out, progress=False)
    pack_dataset(folder, out, sequences=[1], overwrite=True, progress=False)
    monkeypatch.setenv("SLT_TRACKINGNET_LMDB_DIR", str(out))
    again = pickle.loads(pickle.dumps(TrackingNet_lmdb()))  # DataLoader workers receive pickled datasets
    assert again.sequence_list == ["TRAIN_0/bbb_video_2"] and again.get_frames(0, [4])[0][0].shape == (24, 32, 3)


def test_errors_name_path_and_setting(tmp_path):
    with pytest.raises(DatasetPathError, match="SLT_LASOT_LMDB_DIR"):
        Lasot_lmdb()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetPathError) as info:
        Lasot_lmdb(str(tmp_path / "empty"))
    assert str(tmp_path / "empty") in str(info.value) and "SLT_LASOT_LMDB_DIR" in str(info.value)
    fx = build_lasot(tmp_path / "lasot", sequences=("cat-2",), num_frames=3)
    make_corrupt_jpeg(fx.sequences["cat-2"].frame_paths[1])
    packed = LmdbDataset(str(pack_dataset(Lasot(str(fx.root)), tmp_path / "db", progress=False)))
    with pytest.raises(ImageReadError, match="cat-2/img/00000002.jpg"):
        packed.get_frames(0, [1])


def test_failed_pack_leaves_no_output(tmp_path):
    fx = build_lasot(tmp_path / "lasot", sequences=("cat-2", "dog-1"), num_frames=2)
    fx.sequences["dog-1"].frame_paths[0].unlink()
    with pytest.raises(ImageReadError, match="00000001.jpg"):
        pack_dataset(Lasot(str(fx.root)), tmp_path / "db", progress=False)
    assert not (tmp_path / "db").exists() and not list(tmp_path.glob("db.partial-*"))


def test_command_line(tmp_path, capsys):
    build_got10k(tmp_path / "got10k")
    out = tmp_path / "cli_db"
    pack_lmdb.main(["got10k", "--root", str(tmp_path / "got10k"), "--out", str(out), "--split", "val", "--quiet"])
    assert Got10k_lmdb(str(out)).sequence_list == ["GOT-10k_Val_000001"]
    pack_lmdb.main(["got10k", "--root", str(tmp_path / "got10k"), "--out", str(out), "--sequences",
                    "GOT-10k_Train_000003,GOT-10k_Train_000001", "--overwrite", "--quiet"])
    assert LmdbDataset(str(out)).sequence_list == ["GOT-10k_Train_000003", "GOT-10k_Train_000001"]
    assert Got10k_lmdb(str(out)).sequence_list == ["GOT-10k_Train_000001", "GOT-10k_Train_000003"]  # as Got10k
    pack_lmdb.main(["got10k", "--root", str(tmp_path / "got10k"), "--out", str(out), "--sequences", "2",
                    "--overwrite", "--quiet"])
    assert len(Got10k_lmdb(str(out))) == 2
    with pytest.raises(SystemExit):
        pack_lmdb.main(["got10k", "--root", str(tmp_path / "got10k"), "--out", str(tmp_path / "x"),
                        "--sequences", "nope", "--quiet"])
    assert "Done" in capsys.readouterr().out
