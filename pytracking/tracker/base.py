"""The interface every online tracker implements.

A tracker sees one video frame at a time:

* ``initialize(image, info)`` with the first frame and ``info['init_bbox']`` = ``[x, y, w, h]``
  (top-left corner, width, height, in pixels);
* ``track(image, info)`` for every later frame; it returns a dict with ``'target_bbox'`` =
  ``[x, y, w, h]`` in pixels and may add debug entries that the live visualisation shows:

  ``'score_map'``   2-D array (the tracker's response/score map, any size),
  ``'search_crop'`` H x W x 3 uint8 RGB image (the search region the network saw),
  ``'info'``        dict of scalars shown in a text window (e.g. max score).

Images are RGB ``uint8`` arrays of shape ``H x W x 3``.

Real trackers live in ``pytracking/tracker/<name>/`` (a package exposing ``get_tracker_class()``)
and their parameter sets in ``pytracking/parameter/<name>/<param>.py`` (exposing
``parameters() -> TrackerParams``); see :mod:`pytracking.tracker` for the lookup rules.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

import numpy as np

from pytracking.utils.params import TrackerParams

if TYPE_CHECKING:  # only for annotations; the visualiser imports visdom lazily
    from pytracking.utils.visdom import Visdom

#: Keys of a track() output that the runner shows in visdom when debugging.
DEBUG_OUTPUT_KEYS = ("score_map", "search_crop", "info")


class BaseTracker:
    """Base class of online single-object trackers.

    Args:
        params: the tracker's test-time parameters (see :class:`TrackerParams`).

    Attributes:
        params: the parameters.
        visdom: a :class:`pytracking.utils.visdom.Visdom` client while running with ``--debug`` and
            a reachable server, else ``None``; use :meth:`visdom_draw` rather than calling it directly.
        debug: debug level (``params.debug``); 0 disables all debug output.
    """

    #: True for trackers that return a segmentation mask in ``'segmentation'`` besides the box.
    predicts_segmentation_mask: bool = False

    def __init__(self, params: TrackerParams):
        self.params = params
        self.visdom: Optional["Visdom"] = None
        self.debug: int = int(params.get("debug", 0) or 0)

    # -- the interface -------------------------------------------------------------------------
    def initialize(self, image: np.ndarray, info: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Start tracking the target ``info['init_bbox']`` (``[x, y, w, h]`` px) in the first frame.

        Returns ``None`` or a dict of extra outputs for the first frame (e.g. debug entries).
        """
        raise NotImplementedError

    def track(self, image: np.ndarray, info: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Locate the target in the next frame.

        Returns a dict with ``'target_bbox'`` (``[x, y, w, h]`` px) and optional debug entries
        (``'score_map'``, ``'search_crop'``, ``'info'``; see the module docstring).
        """
        raise NotImplementedError

    # -- debug hooks ---------------------------------------------------------------------------
    def set_visdom(self, visdom: Optional["Visdom"]) -> None:
        """Attach (or detach with ``None``) the live visualisation client."""
        self.visdom = visdom

    def visdom_draw(self, data: Any, block_type: str, caption: str, debug_level: int = 1, **kwargs: Any) -> None:
        """Show extra debug data in visdom if the current debug level reaches ``debug_level``.

        ``block_type`` is one of the client's block types (``'image'``, ``'heatmap'``, ``'text'``,
        ``'info_dict'``, ``'line'``); nothing happens without a connected client.
        """
        if self.visdom is not None and self.debug >= debug_level:
            self.visdom.register(data, block_type, caption=caption, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(params={self.params!r})"
