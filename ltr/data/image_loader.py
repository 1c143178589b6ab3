"""Reading frames as ``H x W x 3`` uint8 RGB arrays.

JPEG is decoded with jpeg4py (libjpeg-turbo) by default because it is markedly faster than
OpenCV's decoder; every other format, and JPEG when jpeg4py or libturbojpeg cannot be loaded,
goes through OpenCV. The fallback is announced once per process with a ``RuntimeWarning``.

The backend can be forced with the ``backend`` argument or the environment variable
``SLT_IMAGE_BACKEND`` (``auto`` (default), ``jpeg4py`` or ``opencv``).

A missing, empty, truncated or otherwise undecodable file raises :class:`ImageReadError`, which
names the file, so that a long training run can skip and report it instead of dying on an
anonymous decoder error.
"""
from __future__ import annotations

import os
import threading
import warnings
from typing import Optional, Union

import cv2
import numpy as np

__all__ = [
    "ImageReadError",
    "imread_rgb",
    "decode_image_bytes",
    "read_image_bytes",
    "jpeg4py_available",
    "resolve_backend",
    "BACKEND_ENV_VAR",
    "opencv_loader",
    "jpeg4py_loader",
    "default_image_loader",
]

#: Environment variable that forces the decoder for all loads without an explicit ``backend``.
BACKEND_ENV_VAR = "SLT_IMAGE_BACKEND"
_BACKENDS = ("auto", "jpeg4py", "opencv")
_JPEG_MAGIC = b"\xff\xd8"


class ImageReadError(OSError):
    """A frame could not be read or decoded; ``path`` names the file (or LMDB key)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"Cannot read image '{path}': {reason}")
        self.path = str(path)
        self.reason = reason


_probe_lock = threading.Lock()
_jpeg4py_state: Optional[bool] = None  # None = not probed yet in this process
_jpeg4py_module = None
_fallback_warned = False


def _probe_jpeg4py() -> bool:
    """Import jpeg4py and decode a tiny in-memory JPEG once; True if that works."""
    global _jpeg4py_state, _jpeg4py_module
    if _jpeg4py_state is not None:
        return _jpeg4py_state
    with _probe_lock:
        if _jpeg4py_state is not None:
            return _jpeg4py_state
        reason = ""
        try:
            import jpeg4py  # noqa: WPS433 (optional dependency, imported lazily)

            ok, encoded = cv2.imencode(".jpg", np.zeros((8, 8, 3), dtype=np.uint8))
            if not ok:
                raise RuntimeError("OpenCV could not encode the probe image")
            decoded = jpeg4py.JPEG(encoded).decode()
            if decoded.shape != (8, 8, 3):
                raise RuntimeError(f"probe decoded to shape {decoded.shape}")
            _jpeg4py_module = jpeg4py
            _jpeg4py_state = True
        except Exception as exc:  # ImportError, OSError (no libturbojpeg), cffi errors, ...
            reason = f"{type(exc).__name__}: {exc}"
            _jpeg4py_state = False
        if not _jpeg4py_state:
            _warn_fallback(reason)
        return _jpeg4py_state


def _warn_fallback(reason: str) -> None:
    global _fallback_warned
    if _fallback_warned:
        return
    _fallback_warned = True
    warnings.warn(
        "jpeg4py/libturbojpeg is not usable (" + reason + "); decoding JPEG frames with OpenCV, "
        "which is slower. Install libturbojpeg (e.g. apt-get install libturbojpeg) and jpeg4py to "
        f"speed up data loading, or set {BACKEND_ENV_VAR}=opencv to silence this warning.",
        RuntimeWarning,
        stacklevel=3,
    )


def jpeg4py_available() -> bool:
    """True if jpeg4py and libturbojpeg load and decode in this process."""
    return _probe_jpeg4py()


def resolve_backend(backend: Optional[str] = None) -> str:
    """The decoder that will be used for JPEG data: ``'jpeg4py'`` or ``'opencv'``.

    Args:
        backend: ``'auto'``, ``'jpeg4py'``, ``'opencv'`` or None (read ``SLT_IMAGE_BACKEND``,
            default ``'auto'``). ``'jpeg4py'`` still falls back to OpenCV (with the one-time
            warning) when the library cannot be loaded.
    """
    choice = (backend or os.environ.get(BACKEND_ENV_VAR) or "auto").strip().lower()
    if choice not in _BACKENDS:
        raise ValueError(f"Unknown image backend '{choice}' (from argument or {BACKEND_ENV_VAR}); "
                         f"choose one of {_BACKENDS}.")
    if choice == "opencv":
        return "opencv"
    return "jpeg4py" if _probe_jpeg4py() else "opencv"


def _decode_opencv(buffer: np.ndarray, name: str) -> np.ndarray:
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageReadError(name, "OpenCV could not decode it (corrupt, truncated or unsupported format)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _discard_decompressor(decoder) -> None:
    """Destroy the libjpeg-turbo handle of a failed decode instead of letting jpeg4py cache it.

    jpeg4py returns every handle to a shared pool; a handle that has just failed on corrupt data
    can be left in a broken state, and reusing it later yields empty images or crashes.
    """
    handle = getattr(decoder, "decompressor", None)
    decoder.decompressor = None
    if handle is not None:
        try:
            handle.release()
        except Exception:
            pass


def decode_image_bytes(data: Union[bytes, bytearray, memoryview, np.ndarray], name: str,
                       backend: Optional[str] = None) -> np.ndarray:
    """Decode an encoded image held in memory (e.g. an LMDB value) to ``H x W x 3`` uint8 RGB.

    Args:
        data: the encoded file content (JPEG, PNG, BMP, ...).
        name: what to call the data in errors (file path or LMDB key).
        backend: see :func:`resolve_backend`.
    Raises:
        ImageReadError: empty or undecodable data.
    """
    buffer = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if buffer.size == 0:
        raise ImageReadError(name, "the data is empty (0 bytes)")
    is_jpeg = buffer.size >= 2 and buffer[0] == 0xFF and buffer[1] == 0xD8
    if is_jpeg and resolve_backend(backend) == "jpeg4py":
        decoder = _jpeg4py_module.JPEG(buffer)
        try:
            image = decoder.decode()
            if image.size == 0:
                raise RuntimeError("jpeg4py decoded an empty image")
        except Exception as exc:
            _discard_decompressor(decoder)
            # libjpeg-turbo refuses a few legal files (e.g. CMYK); OpenCV decides whether the
            # data is really broken, and the jpeg4py reason is kept for the error message.
            try:
                return _decode_opencv(buffer, name)
            except ImageReadError as cv_error:
                raise ImageReadError(name, f"{exc}; OpenCV fallback: {cv_error.reason}") from exc
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        return image
    return _decode_opencv(buffer, name)


def read_image_bytes(path: Union[str, os.PathLike]) -> bytes:
    """The raw bytes of an image file; raises :class:`ImageReadError` naming a missing file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ImageReadError(path, "the file does not exist") from None
    except OSError as exc:
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from exc


def imread_rgb(path: Union[str, os.PathLike], backend: Optional[str] = None) -> np.ndarray:
    """Read an image file as ``H x W x 3`` uint8 RGB.

    The format is recognised from the content, not the extension (some datasets ship PNGs
    named ``.jpg``). JPEG goes through jpeg4py unless ``backend``/``SLT_IMAGE_BACKEND`` says
    ``'opencv'``; other formats through OpenCV.

    Raises:
        ImageReadError: the file is missing, empty, truncated or not decodable.
    """
    path = os.fspath(path)
    return decode_image_bytes(read_image_bytes(path), name=path, backend=backend)


def opencv_loader(path: Union[str, os.PathLike]) -> np.ndarray:
    """:func:`imread_rgb` forced to OpenCV (pytracking's name)."""
    return imread_rgb(path, backend="opencv")


def jpeg4py_loader(path: Union[str, os.PathLike]) -> np.ndarray:
    """:func:`imread_rgb` with jpeg4py for JPEG (pytracking's name); falls back to OpenCV."""
    return imread_rgb(path, backend="jpeg4py")


#: The loader datasets use unless told otherwise.
default_image_loader = imread_rgb
