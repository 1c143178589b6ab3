"""Install visdom's front-end files (JavaScript, CSS, fonts) from the npm registry.

``python -m visdom.server`` downloads these files from CDNs (unpkg, cdn.plot.ly, d3js.org,
cdnjs) every time it starts without them, and the page stays blank where those hosts are
unreachable. This module fetches the same files, at the same versions, as npm packages (the
npm registry or a mirror of it, e.g. a company proxy) and copies them into visdom's static folder,
so :mod:`pytracking.utils.visdom_server` (or visdom's own server) renders with no internet::

    python -m pytracking.utils.visdom_assets install     # once per Python environment
    python -m pytracking.utils.visdom_assets check       # exit status 1 if files are missing
    python -m pytracking.utils.visdom_assets list        # what comes from which package

``install`` runs ``npm pack`` (tarballs only: no package scripts run) in a temporary folder and
needs Node.js/npm. ``--registry URL`` picks another registry; npm's own configuration (``.npmrc``,
``npm_config_registry``) applies otherwise.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence


@dataclasses.dataclass(frozen=True)
class Asset:
    """One file visdom's page needs: its npm source and its place under visdom's static folder."""

    package: str        # npm package name
    version: str        # exact version visdom's downloader pins
    source: str         # path inside the package
    target: str         # path relative to visdom's static folder
    optional: bool = False  # visdom asks for it, but the page works without it


_BOOTSTRAP = ("bootstrap", "3.3.7")
_MATHJAX = ("mathjax", "2.7.5")

#: The files visdom 0.2.x's ``visdom.server.build.download_scripts`` fetches, mapped to npm packages.
#: Where visdom fetches from a non-npm CDN the same release is taken from its npm package
#: (plotly.js-dist-min = cdn.plot.ly's plotly-<v>.min.js; d3 3.5.17 = d3js.org/d3.v3.min.js;
#: d3-selection-multi 1.0.1 = d3js.org/d3-selection-multi.v1.js; mathjax = cdnjs' MathJax 2.7.5).
ASSETS: List[Asset] = [
    Asset("jquery", "3.1.1", "dist/jquery.min.js", "js/jquery.min.js"),
    Asset(*_BOOTSTRAP, "dist/js/bootstrap.min.js", "js/bootstrap.min.js"),
    Asset("react", "16.2.0", "umd/react.production.min.js", "js/react-react.min.js"),
    Asset("react-dom", "16.2.0", "umd/react-dom.production.min.js", "js/react-dom.min.js"),
    Asset("react-modal", "3.1.10", "dist/react-modal.min.js", "js/react-modal.min.js"),
    Asset("plotly.js-dist-min", "2.11.1", "plotly.min.js", "js/plotly-plotly.min.js"),
    Asset("sjcl", "1.0.7", "sjcl.js", "js/sjcl.js"),
    Asset("layout-bin-packer", "1.4.0", "dist/layout-bin-packer.js.map", "js/layout-bin-packer.js.map", optional=True),
    Asset("layout-bin-packer", "1.4.0", "dist/layout-bin-packer.js", "js/layout_bin_packer.js"),
    Asset("d3", "3.5.17", "d3.min.js", "js/d3.v3.min.js"),
    Asset("d3-selection-multi", "1.0.1", "build/d3-selection-multi.js", "js/d3-selection-multi.v1.js"),
    Asset("save-svg-as-png", "1.4.17", "lib/saveSvgAsPng.js", "js/saveSvgAsPng.js"),
    Asset("react-resizable", "1.4.6", "css/styles.css", "css/react-resizable-styles.css"),
    Asset("react-grid-layout", "0.16.3", "css/styles.css", "css/react-grid-layout-styles.css"),
    Asset(*_BOOTSTRAP, "dist/css/bootstrap.min.css", "css/bootstrap.min.css"),
    # visdom stores unpkg's answer for the bare package URL (its main file) under this odd name.
    Asset("classnames", "2.2.5", "index.js", "fonts/classnames", optional=True),
    Asset(*_BOOTSTRAP, "dist/fonts/glyphicons-halflings-regular.eot", "fonts/glyphicons-halflings-regular.eot"),
    Asset(*_BOOTSTRAP, "dist/fonts/glyphicons-halflings-regular.woff2", "fonts/glyphicons-halflings-regular.woff2"),
    Asset(*_BOOTSTRAP, "dist/fonts/glyphicons-halflings-regular.woff", "fonts/glyphicons-halflings-regular.woff"),
    Asset(*_BOOTSTRAP, "dist/fonts/glyphicons-halflings-regular.ttf", "fonts/glyphicons-halflings-regular.ttf"),
    # bootstrap.css asks for "...svg#glyphicons_halflingsregular" (the browser drops the fragment);
    # visdom saves the file under the name with the fragment, so both names are written.
    Asset(*_BOOTSTRAP, "dist/fonts/glyphicons-halflings-regular.svg", "fonts/glyphicons-halflings-regular.svg"),
    Asset(*_BOOTSTRAP, "dist/fonts/glyphicons-halflings-regular.svg",
          "fonts/glyphicons-halflings-regular.svg#glyphicons_halflingsregular", optional=True),
    Asset(*_MATHJAX, "MathJax.js", "js/mathjax/2.7.5/MathJax.js"),
    Asset(*_MATHJAX, "config/TeX-AMS-MML_HTMLorMML.js", "js/mathjax/2.7.5/config/TeX-AMS-MML_HTMLorMML.js"),
    Asset(*_MATHJAX, "config/Safe.js", "js/mathjax/2.7.5/config/Safe.js", optional=True),
    Asset(*_MATHJAX, "extensions/Safe.js", "js/mathjax/2.7.5/extensions/Safe.js"),
    Asset(*_MATHJAX, "jax/output/SVG/fonts/TeX/fontdata.js", "js/mathjax/2.7.5/jax/output/SVG/fonts/TeX/fontdata.js"),
    Asset(*_MATHJAX, "jax/output/SVG/jax.js", "js/mathjax/2.7.5/jax/output/SVG/jax.js"),
    Asset(*_MATHJAX, "jax/output/SVG/fonts/TeX/Size1/Regular/Main.js",
          "js/mathjax/2.7.5/jax/output/SVG/fonts/TeX/Size1/Regular/Main.js"),
    Asset(*_MATHJAX, "jax/output/SVG/config.js", "js/mathjax/2.7.5/jax/output/SVG/config.js"),
]

#: Marker visdom's own downloader reads: with it present (and matching the version), plain
#: ``python -m visdom.server`` only fetches files that are missing.
BUILT_MARKER = "version.built"


class AssetInstallError(RuntimeError):
    """npm is missing, the registry is unreachable, or a package lacks an expected file."""


def visdom_static_dir() -> Path:
    """visdom's static folder (where its server serves /static/ from)."""
    from visdom.utils.shared_utils import get_visdom_path

    return Path(get_visdom_path("static"))


def missing_assets(static_dir: Optional[Path] = None, include_optional: bool = False) -> List[Asset]:
    """Assets whose file is absent (required ones only unless ``include_optional``)."""
    static_dir = Path(static_dir) if static_dir is not None else visdom_static_dir()
    return [a for a in ASSETS if (include_optional or not a.optional) and not (static_dir / a.target).is_file()]


def _packages(assets: Sequence[Asset]) -> List[str]:
    specs: Dict[str, None] = {}
    for asset in assets:
        specs.setdefault(f"{asset.package}@{asset.version}", None)
    return list(specs)


def _npm_pack(specs: List[str], workdir: Path, registry: Optional[str]) -> Dict[str, Path]:
    """Download the tarballs of ``specs`` into ``workdir``; returns spec -> tarball path."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetInstallError("npm not found: install Node.js/npm (e.g. 'apt-get install npm'), "
                                "or copy the files listed by 'python -m pytracking.utils.visdom_assets list' by hand")
    cmd = [npm, "pack", *specs, "--pack-destination", str(workdir), "--json", "--ignore-scripts"]
    if registry:
        cmd += ["--registry", registry]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise AssetInstallError("npm pack failed (is the npm registry reachable?):\n  " + "\n  ".join(tail))
    try:
        packed = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssetInstallError(f"unexpected output from npm pack: {proc.stdout[:300]!r}") from None
    tarballs: Dict[str, Path] = {}
    for spec, info in zip(specs, packed):
        tarballs[spec] = workdir / info["filename"]
    return tarballs


def _read_member(tarball: Path, inner_path: str) -> Optional[bytes]:
    # npm tarballs keep everything under "package/"; files are read out one by one (never
    # extracted), so a crafted archive cannot write outside the target folder.
    with tarfile.open(tarball, "r:gz") as tar:
        for prefix in ("package/", ""):
            try:
                member = tar.getmember(prefix + inner_path)
            except KeyError:
                continue
            f = tar.extractfile(member)
            return None if f is None else f.read()
    return None


def install(static_dir: Optional[Path] = None, registry: Optional[str] = None, force: bool = False,
            log=print) -> List[Path]:
    """Fetch the assets with ``npm pack`` and copy them into ``static_dir`` (visdom's by default).

    Files already present are kept unless ``force``. Returns the files written.

    Raises:
        AssetInstallError if npm fails or a required file is not in its package.
    """
    static_dir = Path(static_dir) if static_dir is not None else visdom_static_dir()
    todo = ASSETS if force else [a for a in ASSETS if not (static_dir / a.target).is_file()]
    written: List[Path] = []
    if todo:
        specs = _packages(todo)
        log(f"Fetching {len(specs)} npm packages: {' '.join(specs)}")
        with tempfile.TemporaryDirectory(prefix="visdom-assets-") as tmp:
            tarballs = _npm_pack(specs, Path(tmp), registry)
            for asset in todo:
                data = _read_member(tarballs[f"{asset.package}@{asset.version}"], asset.source)
                if data is None:
                    if asset.optional:
                        log(f"  (skipped optional {asset.target}: not in {asset.package}@{asset.version})")
                        continue
                    raise AssetInstallError(f"{asset.package}@{asset.version} has no file '{asset.source}'")
                target = static_dir / asset.target
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp_target = target.with_name(target.name + ".part")
                tmp_target.write_bytes(data)
                os.replace(tmp_target, target)
                written.append(target)
    else:
        log("All visdom assets are already installed.")
    try:
        import visdom

        (static_dir / BUILT_MARKER).write_text(str(visdom.__version__))
    except ImportError:
        pass
    still_missing = missing_assets(static_dir)
    if still_missing:
        raise AssetInstallError(f"still missing after install: {[a.target for a in still_missing]}")
    log(f"Installed {len(written)} files into {static_dir}")
    return written


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytracking.utils.visdom_assets",
                                     description="Install visdom's front-end files from the npm registry.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser("install", help="fetch the files with npm pack and copy them into visdom")
    p_install.add_argument("--registry", help="npm registry URL (default: npm's configuration)")
    p_install.add_argument("--force", action="store_true", help="replace files that are already there")
    p_install.add_argument("--static-dir", type=Path, help="target folder (default: visdom's static folder)")
    p_check = sub.add_parser("check", help="exit status 1 if required files are missing")
    p_check.add_argument("--static-dir", type=Path)
    sub.add_parser("list", help="show which file comes from which npm package")
    args = parser.parse_args(argv)

    if args.command == "list":
        for a in ASSETS:
            print(f"{a.package}@{a.version}/{a.source} -> static/{a.target}{'  (optional)' if a.optional else ''}")
        return 0
    if args.command == "check":
        static_dir = args.static_dir or visdom_static_dir()
        missing = missing_assets(static_dir)
        if missing:
            print(f"{len(missing)} visdom assets missing in {static_dir}: {[a.target for a in missing]}\n"
                  f"Install them with: python -m pytracking.utils.visdom_assets install")
            return 1
        print(f"All required visdom assets are present in {static_dir}")
        return 0
    try:
        install(args.static_dir, registry=args.registry, force=args.force)
    except AssetInstallError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
