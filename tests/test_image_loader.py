"""Image decoding: jpeg4py/OpenCV agreement, fallback warning, errors that name the file."""
import warnings

import cv2
import numpy as np
import pytest

from ltr.data import image_loader
from ltr.data.image_loader import ImageReadError, decode_image_bytes, imread_rgb, resolve_backend
from tests.fixtures import make_corrupt_jpeg, write_jpeg


def _opencv_reference(path):
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_jpeg_is_rgb_uint8_and_matches_opencv(tmp_path):
    path = write_jpeg(tmp_path / "a.jpg", seed=3)
    for backend in ("jpeg4py", "opencv", None):
        image = imread_rgb(path, backend=backend)
        assert image.shape == (24, 32, 3) and image.dtype == np.uint8
        # both decoders are libjpeg(-turbo) with the same IDCT; allow off-by-one rounding only
        assert np.abs(image.astype(int) - _opencv_reference(path)).max() <= 1


def test_png_and_grayscale_and_png_named_jpg(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert np.array_equal(imread_rgb(tmp_path / "c.png"), rgb)
    cv2.imwrite(str(tmp_path / "g.png"), rgb[:, :, 0])
    gray = imread_rgb(tmp_path / "g.png")
    assert gray.shape == (5, 7, 3) and np.array_equal(gray[:, :, 1], rgb[:, :, 0])
    # some datasets ship PNGs named .jpg: the content decides
    (tmp_path / "fake.jpg").write_bytes((tmp_path / "c.png").read_bytes())
    assert np.array_equal(imread_rgb(tmp_path / "fake.jpg"), rgb)


@pytest.mark.parametrize("mode", ["truncated", "garbage", "empty"])
@pytest.mark.parametrize("backend", ["jpeg4py", "opencv"])
def test_corrupt_file_raises_naming_it(tmp_path, mode, backend):
    path = make_corrupt_jpeg(tmp_path / "broken_frame.jpg", mode)
    with pytest.raises(ImageReadError) as info:
        imread_rgb(path, backend=backend)
    assert str(path) in str(info.value) and info.value.path == str(path)


def test_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(ImageReadError, match="does not exist") as info:
        imread_rgb(tmp_path / "nope" / "00000001.jpg")
    assert "00000001.jpg" in str(info.value)


def test_decode_bytes_matches_file_and_names_key(tmp_path):
    path = write_jpeg(tmp_path / "b.jpg", seed=5)
    data = path.read_bytes()
    assert np.array_equal(decode_image_bytes(data, "k"), imread_rgb(path))
    assert np.array_equal(decode_image_bytes(data, "k", backend="opencv"), imread_rgb(path, backend="opencv"))
    with pytest.raises(ImageReadError, match="lmdb::img/x.jpg"):
        decode_image_bytes(data[:40], "lmdb::img/x.jpg")


def test_backend_env_var_and_bad_name(monkeypatch):
    monkeypatch.setenv(image_loader.BACKEND_ENV_VAR, "opencv")
    assert resolve_backend() == "opencv"
    monkeypatch.setenv(image_loader.BACKEND_ENV_VAR, "pillow")
    with pytest.raises(ValueError, match="SLT_IMAGE_BACKEND"):
        resolve_backend()


def test_fallback_warns_once_when_jpeg4py_missing(tmp_path, monkeypatch):
    # simulate a process where jpeg4py cannot be imported
    monkeypatch.setattr(image_loader, "_jpeg4py_state", None)
    monkeypatch.setattr(image_loader, "_fallback_warned", False)
    monkeypatch.setitem(__import__("sys").modules, "jpeg4py", None)
    path = write_jpeg(tmp_path / "a.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = imread_rgb(path)
        imread_rgb(path)
        decode_image_bytes(path.read_bytes(), "x")
    fallback = [w for w in caught if "jpeg4py" in str(w.message)]
    assert len(fallback) == 1 and issubclass(fallback[0].category, RuntimeWarning)
    assert np.array_equal(first, _opencv_reference(path))
    assert resolve_backend("jpeg4py") == "opencv"
    # restore the real probe result for the rest of the session
    monkeypatch.setattr(image_loader, "_jpeg4py_state", None)


def test_failed_jpeg4py_decodes_do_not_poison_later_ones(tmp_path):
    # jpeg4py pools its libjpeg-turbo handles; a handle that failed mid-header must not go back
    # to the pool, or the next image decoded with it reports 0x0 and overflows its buffer.
    import gc

    import jpeg4py

    good = write_jpeg(tmp_path / "good.jpg", seed=9)
    expected = imread_rgb(good, backend="opencv")
    truncated = make_corrupt_jpeg(tmp_path / "t.jpg", "truncated").read_bytes()
    for _ in range(5):
        with pytest.raises(ImageReadError):
            decode_image_bytes(truncated, "bad", backend="jpeg4py")
        gc.collect()  # releases the failed decoder object (held by the exception's traceback)
        probe = jpeg4py.JPEG(np.frombuffer(good.read_bytes(), np.uint8))
        probe.parse_header()
        assert (probe.width, probe.height) == (32, 24)
        del probe
        image = decode_image_bytes(good.read_bytes(), "good", backend="jpeg4py")
        assert np.abs(image.astype(int) - expected).max() <= 1
