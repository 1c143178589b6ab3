"""Start a visdom server without visdom's start-up download, bound to 127.0.0.1 by default.

    python -m pytracking.utils.visdom_server [--port 8097] [--host 127.0.0.1] [--env-path DIR]

``python -m visdom.server`` first tries to download its JavaScript/CSS from CDNs and, without
internet, hangs on those requests and serves a blank page. This launcher runs the same tornado
application directly, never downloads, and listens only on the given address (loopback unless
you pass e.g. ``--host 0.0.0.0`` on purpose: visdom has no authentication by default).
Install the page's files once with ``python -m pytracking.utils.visdom_assets install``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8097


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytracking.utils.visdom_server",
                                     description="Run a visdom server offline (no asset download).")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 exposes it to the network)")
    parser.add_argument("--env-path", default=None,
                        help="folder where visdom saves environments (default: visdom's ~/.visdom/)")
    parser.add_argument("--base-url", default="", help="URL prefix, e.g. /visdom (default: none)")
    parser.add_argument("--readonly", action="store_true", help="serve the page read-only")
    parser.add_argument("--logging-level", default="WARNING", help="python logging level (default WARNING)")
    return parser


def _static_handler_class():
    """tornado's static file handler, tolerant of the one out-of-folder link in visdom's page."""
    import tornado.web

    class VisdomStaticFileHandler(tornado.web.StaticFileHandler):
        @classmethod
        def make_static_url(cls, settings, path, include_version=True):
            try:
                return super().make_static_url(settings, path, include_version)
            except tornado.web.HTTPError:
                # visdom's index.html links static_url("../user/style.css") (served by visdom's
                # /user/ handler); tornado >= 6.6 refuses to hash files outside the static folder and
                # the page fails with 403. Such a link gets the plain, unversioned URL instead; serving
                # files outside the static folder stays forbidden.
                return settings.get("static_url_prefix", "/static/") + path

    return VisdomStaticFileHandler


def run(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, env_path: Optional[str] = None,
        base_url: str = "", readonly: bool = False) -> None:
    """Serve visdom on ``host:port`` until interrupted (blocks)."""
    from tornado import ioloop

    import visdom.server.app as visdom_app
    from visdom.server.defaults import DEFAULT_ENV_PATH

    from pytracking.utils.visdom_assets import missing_assets

    # visdom switches tornado's debug mode on, which would also restart the server whenever a
    # Python file it imported changes; keep the debug templates but not the auto-restart.
    visdom_app.tornado_settings["autoreload"] = False
    visdom_app.tornado_settings["static_handler_class"] = _static_handler_class()
    if base_url and (not base_url.startswith("/") or base_url.endswith("/")):
        raise SystemExit("--base-url must start with '/' and not end with '/', e.g. /visdom")
    missing = missing_assets()
    if missing:
        print(f"WARNING: {len(missing)} visdom page assets are missing (e.g. static/{missing[0].target}); the page "
              f"will not render. Install them once with: python -m pytracking.utils.visdom_assets install",
              file=sys.stderr, flush=True)
    env_path = env_path or DEFAULT_ENV_PATH
    os.makedirs(env_path, exist_ok=True)
    app = visdom_app.Application(port=port, base_url=base_url, env_path=env_path, readonly=readonly)
    app.listen(port, address=host, max_buffer_size=1024 ** 3)
    print(f"Visdom server listening on http://{host}:{port}{base_url}/ (Ctrl+C to stop)", flush=True)
    try:
        ioloop.IOLoop.current().start()
    except KeyboardInterrupt:
        pass


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.logging_level.upper())
    run(port=args.port, host=args.host, env_path=args.env_path, base_url=args.base_url, readonly=args.readonly)
    return 0


if __name__ == "__main__":
    sys.exit(main())
