"""Live visualisation of tracking (and training statistics) in a visdom page.

Start a server first (no internet needed once the assets are installed, see docs/visualization.md)::

    python -m pytracking.utils.visdom_server            # http://127.0.0.1:8097

then run a tracker with ``--debug 1``. The client here wraps ``visdom.Visdom`` with:

* a reachability check with a short timeout: without a server it prints ONE warning line and
  turns every call into a no-op, so tracking or training continues without visualisation;
* named windows ("blocks") that are created on first use and updated in place: tracking frames
  with ground-truth (green) and predicted (red) xywh-pixel boxes drawn in, heat maps (score maps),
  text, key/value info, and line plots that grow point by point (training statistics);
* keyboard control through a "Controls" text window: with that window selected in the page,
  ``space`` pauses/resumes and ``ArrowRight`` advances one frame while paused.
"""
from __future__ import annotations

import html
import logging
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8097
DEFAULT_ENV = "pytracking"

#: Window ids used by the tracking visualisation (also the window titles).
FRAME_WIN = "Frame"
SCORE_WIN = "Score map"
CROP_WIN = "Search crop"
INFO_WIN = "Info"
CONTROLS_WIN = "Controls"

GT_COLOR = (0, 255, 0)
PRED_COLOR = (255, 0, 0)

CONTROLS_TEXT = (
    "<b>Keyboard</b> (click this window first so it has the focus):<br>"
    "&nbsp;&nbsp;<b>space</b>: pause / resume tracking<br>"
    "&nbsp;&nbsp;<b>&rarr;</b> (right arrow): track one frame while paused<br>"
    "Boxes: <span style='color:#00c000'>ground truth</span>, "
    "<span style='color:#e00000'>prediction</span>."
)

BoxLike = Sequence[float]


def server_reachable(host: str, port: int, timeout: float = 1.0) -> Tuple[bool, str]:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds (and why not)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as err:
        return False, err.strerror or type(err).__name__


def draw_boxes(image: np.ndarray, boxes: Iterable[Tuple[BoxLike, Tuple[int, int, int]]],
               thickness: int = 2) -> np.ndarray:
    """A copy of the RGB ``image`` with each ``(xywh pixel box, rgb colour)`` drawn as a rectangle."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    for box, color in boxes:
        if box is None:
            continue
        x, y, w, h = (float(v) for v in box)
        if not np.all(np.isfinite([x, y, w, h])):
            continue  # e.g. ground truth NaN where the target is absent
        p1 = (int(round(x)), int(round(y)))
        p2 = (int(round(x + w)), int(round(y + h)))
        cv2.rectangle(out, p1, p2, tuple(int(c) for c in color), thickness)
    return out


def _to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[2] not in (1, 3):
        image = np.transpose(image, (1, 2, 0))  # CHW -> HWC (e.g. a crop straight from a tensor)
    if image.dtype != np.uint8:
        image = image.astype(np.float64)
        if image.size and image.max() <= 1.0:
            image = image * 255.0
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return image


def _make_client_class():
    import visdom

    class _TimeoutVisdom(visdom.Visdom):
        """visdom.Visdom whose HTTP requests give up after a timeout instead of waiting forever."""

        def __init__(self, *args: Any, request_timeout: float = 5.0, **kwargs: Any):
            self._request_timeout = request_timeout  # set first: the parent's __init__ already posts
            super().__init__(*args, **kwargs)

        def _handle_post(self, url, data=None):
            response = self.session.post(url, data={} if data is None else data, timeout=self._request_timeout)
            return response.text

    return _TimeoutVisdom


class Visdom:
    """Visualisation client; every method is a no-op while not connected.

    Args:
        host, port: the visdom server (default 127.0.0.1:8097).
        env: visdom environment (tab) the windows go to.
        debug: debug level; :meth:`register` shows a block only if ``debug >= its debug_level``.
        connect_timeout: seconds to wait for the TCP connection before giving up.
        request_timeout: seconds each later request may take before visualisation is switched off.
        controls: listen for key presses sent from the "Controls" window (needs visdom's event
            socket); the window is shown by :meth:`show_controls`.
        max_image_size: images are downscaled so their longer side is at most this (0 = never),
            because sending full-size frames slows tracking down.
        min_display_size: smaller images are shown in a window this large (longer side, pixels).
        warn: where the single warning line goes (default: stderr).
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, env: str = DEFAULT_ENV, debug: int = 1,
                 connect_timeout: float = 1.0, request_timeout: float = 5.0, controls: bool = True,
                 max_image_size: int = 640, min_display_size: int = 240, warn: Optional[Callable[[str], None]] = None):
        self.host = host
        self.port = int(port)
        self.env = env
        self.debug = int(debug)
        self.max_image_size = int(max_image_size)
        self.min_display_size = int(min_display_size)
        self.connected = False
        self.paused = False
        self._step_requested = False
        self._warned = False
        self._warn_fn = warn
        self._line_series: Dict[str, set] = {}
        self._lock = threading.Lock()
        self._controls = bool(controls)
        self._controls_shown = False
        self._vis = None

        reachable, reason = server_reachable(host, self.port, connect_timeout)
        if not reachable:
            self._warn(f"no visdom server at http://{host}:{self.port} ({reason}); continuing without live "
                       f"visualisation. Start one with: python -m pytracking.utils.visdom_server --port {self.port}")
            return
        # visdom and its websocket client log every retry themselves; this class reports problems once.
        for name in ("visdom", "websocket"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            client_cls = _make_client_class()
            self._vis = client_cls(server=f"http://{host}", port=self.port, env=env, raise_exceptions=True,
                                   use_incoming_socket=controls, request_timeout=request_timeout)
        except Exception as err:  # visdom missing, handshake failed, ...
            self._warn(f"could not connect to the visdom server at http://{host}:{self.port} ({err}); "
                       f"continuing without live visualisation")
            self._vis = None
            return
        self.connected = True
        if controls and self._vis.use_socket:
            # The window itself appears with show_controls() (tracking only; training plots need none).
            self._vis.register_event_handler(self._on_event, CONTROLS_WIN)

    # -- internals -----------------------------------------------------------------------------
    def _warn(self, message: str) -> None:
        if self._warned:
            return
        self._warned = True
        line = f"WARNING: {message}"
        if self._warn_fn is not None:
            self._warn_fn(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def _call(self, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        """Call a visdom method; on a connection problem warn once and stop visualising."""
        if not self.connected or self._vis is None:
            return None
        try:
            with self._lock:
                return getattr(self._vis, fn_name)(*args, **kwargs)
        except Exception as err:
            self._warn(f"lost the visdom server at http://{self.host}:{self.port} ({type(err).__name__}: {err}); "
                       f"continuing without live visualisation")
            self.connected = False
            self.paused = False
            return None

    def _fit(self, image: np.ndarray) -> Tuple[np.ndarray, float]:
        """Downscale ``image`` to ``max_image_size``; returns the image and the scale applied."""
        if self.max_image_size <= 0:
            return image, 1.0
        h, w = image.shape[:2]
        scale = self.max_image_size / max(h, w)
        if scale >= 1.0:
            return image, 1.0
        import cv2

        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale

    # -- keyboard control ----------------------------------------------------------------------
    @property
    def listening(self) -> bool:
        """Whether key presses from the page can arrive now (visdom's event socket is up)."""
        return bool(self.connected and self._vis is not None and getattr(self._vis, "socket_alive", False))

    def _controls_text(self) -> str:
        return CONTROLS_TEXT + f"<br><b>State</b>: {'PAUSED' if self.paused else 'running'}"

    def _on_event(self, event: Dict[str, Any]) -> None:
        if event.get("event_type") == "KeyPress":
            self.handle_key(str(event.get("key", "")))

    def handle_key(self, key: str) -> None:
        """Apply a key press: ``' '`` toggles pause, ``'ArrowRight'`` steps one frame while paused."""
        if key == " ":
            self.paused = not self.paused
            self.register_text(CONTROLS_WIN, self._controls_text())
        elif key == "ArrowRight" and self.paused:
            self._step_requested = True

    def wait_if_paused(self, poll_interval: float = 0.05, lost_socket_timeout: float = 10.0) -> None:
        """Block while paused until resumed or a single step is requested.

        If visdom's event socket stays down for ``lost_socket_timeout`` seconds while paused (the
        page can then no longer resume), tracking resumes on its own rather than hanging.
        """
        socket_down_since: Optional[float] = None
        while self.paused and self.connected:
            if self._step_requested:
                self._step_requested = False
                return
            if self.listening:
                socket_down_since = None
            else:
                socket_down_since = socket_down_since or time.monotonic()
                if time.monotonic() - socket_down_since > lost_socket_timeout:
                    self._warn("visdom event socket lost while paused; resuming")
                    self.paused = False
                    return
            time.sleep(poll_interval)

    # -- blocks --------------------------------------------------------------------------------
    def register(self, data: Any, block_type: str, caption: str, debug_level: int = 0, **kwargs: Any) -> None:
        """Show ``data`` in window ``caption`` if ``self.debug >= debug_level`` (pytracking-style entry).

        ``block_type``: ``'image'`` (RGB array; ``boxes=[(xywh, rgb), ...]`` optional), ``'tracking'``
        (``(image, gt_xywh_or_None, pred_xywh)``), ``'heatmap'`` (2-D array), ``'text'`` (str),
        ``'info_dict'`` (dict), ``'line'`` (``(x, y)``; ``series=`` optional).
        """
        if self.debug < debug_level or not self.connected:
            return
        if block_type == "image":
            self.register_image(caption, data, **kwargs)
        elif block_type == "tracking":
            image, gt_bbox, pred_bbox = data
            self.register_tracking_frame(image, gt_bbox=gt_bbox, pred_bbox=pred_bbox, name=caption, **kwargs)
        elif block_type == "heatmap":
            self.register_heatmap(caption, data, **kwargs)
        elif block_type == "text":
            self.register_text(caption, data)
        elif block_type == "info_dict":
            self.register_info(caption, data)
        elif block_type == "line":
            x, y = data
            self.register_line(caption, x, y, **kwargs)
        else:
            raise ValueError(f"Unknown visdom block type '{block_type}' "
                             f"(image, tracking, heatmap, text, info_dict, line)")

    def register_image(self, name: str, image: np.ndarray,
                       boxes: Optional[Iterable[Tuple[BoxLike, Tuple[int, int, int]]]] = None,
                       caption: Optional[str] = None) -> None:
        """Show an RGB (HxWx3, uint8 or float in [0, 1]) image with optional ``(xywh px box, rgb)`` boxes."""
        if not self.connected:
            return
        image, scale = self._fit(_to_rgb_uint8(image))
        if boxes:
            scaled = [(None if b is None else [float(v) * scale for v in b], c) for b, c in boxes]
            image = draw_boxes(image, scaled)
        opts = {"title": name, "jpgquality": 90}
        h, w = image.shape[:2]
        if 0 < max(h, w) < self.min_display_size:
            # Small images (search crops) get a bigger window; the page scales the image up.
            zoom = self.min_display_size / max(h, w)
            opts["width"], opts["height"] = int(round(w * zoom)), int(round(h * zoom))
        if caption:
            opts["caption"] = caption
        self._call("image", np.transpose(image, (2, 0, 1)), win=name, env=self.env, opts=opts)

    def register_tracking_frame(self, image: np.ndarray, gt_bbox: Optional[BoxLike] = None,
                                pred_bbox: Optional[BoxLike] = None, name: str = FRAME_WIN,
                                caption: Optional[str] = None) -> None:
        """Show a frame with the ground-truth box (green) and the predicted box (red), both xywh px."""
        self.register_image(name, image, boxes=[(gt_bbox, GT_COLOR), (pred_bbox, PRED_COLOR)], caption=caption)

    def show_controls(self) -> None:
        """Show the "Controls" window (keyboard help and pause state) once; later calls do nothing."""
        if self._controls and not self._controls_shown and self.connected:
            self._controls_shown = True
            self.register_text(CONTROLS_WIN, self._controls_text())

    def register_heatmap(self, name: str, data: Any, colormap: str = "Jet") -> None:
        """Show a 2-D array (e.g. a score map) as a heat map, row 0 at the top as in the image."""
        if not self.connected:
            return
        array = np.asarray(_to_numpy(data), dtype=np.float64).squeeze()
        if array.ndim != 2:
            raise ValueError(f"register_heatmap('{name}'): expected a 2-D array, got shape {array.shape}")
        # Plotly draws heat-map row 0 at the bottom; flip so the map lines up with the search crop.
        self._call("heatmap", np.flipud(array), win=name, env=self.env,
                   opts={"title": name, "colormap": colormap})

    def register_text(self, name: str, text: str) -> None:
        """Show ``text`` (HTML allowed) in a text window, replacing what it showed before."""
        self._call("text", text, win=name, env=self.env, opts={"title": name})

    def register_info(self, name: str, info: Dict[str, Any]) -> None:
        """Show ``key: value`` lines of a dict in a text window (floats with 4 significant digits)."""
        lines = []
        for key, value in info.items():
            if isinstance(value, float):
                value = f"{value:.4g}"
            lines.append(f"<b>{html.escape(str(key))}</b>: {html.escape(str(value))}")
        self.register_text(name, "<br>".join(lines))

    def register_line(self, name: str, x: float, y: float, series: Optional[str] = None,
                      xlabel: Optional[str] = None, ylabel: Optional[str] = None) -> None:
        """Append the point ``(x, y)`` to line plot ``name`` (trace ``series``; for training statistics)."""
        if not self.connected:
            return
        series = series or name
        known = self._line_series.setdefault(name, set())
        X = np.array([float(x)])
        Y = np.array([float(y)])
        if not known:
            opts = {"title": name, "showlegend": True}
            if xlabel:
                opts["xlabel"] = xlabel
            if ylabel:
                opts["ylabel"] = ylabel
            result = self._call("line", Y=Y, X=X, win=name, env=self.env, name=series, opts=opts)
        else:
            result = self._call("line", Y=Y, X=X, win=name, env=self.env, name=series, update="append")
        if result is not None:
            known.add(series)

    def close(self, name: Optional[str] = None) -> None:
        """Close window ``name`` (all windows of the env if None)."""
        self._call("close", win=name, env=self.env)

    def shutdown(self) -> None:
        """Stop listening for key presses and drop the connection."""
        if self._vis is not None:
            self._vis.use_socket = False  # ends visdom's socket thread loop
        self.connected = False
        self.paused = False


def _to_numpy(data: Any) -> np.ndarray:
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()  # a torch tensor; imported nowhere here to keep torch optional
    return np.asarray(data)


def open_visdom(debug: int, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, env: str = DEFAULT_ENV,
                **kwargs: Any) -> Optional[Visdom]:
    """A connected client if ``debug > 0`` and a server answers, else ``None`` (after one warning)."""
    if debug <= 0:
        return None
    client = Visdom(host=host, port=port, env=env, debug=debug, **kwargs)
    return client if client.connected else None


__all__ = ["Visdom", "open_visdom", "server_reachable", "draw_boxes", "FRAME_WIN", "SCORE_WIN", "CROP_WIN",
           "INFO_WIN", "CONTROLS_WIN", "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_ENV"]
