"""Write synthetic tracking videos to disk in the official GOT-10k layout.

    python -m ltr.util_scripts.make_synthetic --root DIR --split test --num-videos 60 --frames 48 --seed 0

Layout written (``<Split>`` is ``Train``, ``Val`` or ``Test``)::

    DIR/<split>/list.txt                     sequence names, one per line
    DIR/<split>/attributes.json              {sequence: {attribute: bool}} for attribute analysis
    DIR/<split>/generation.json              the settings the folder was written with
    DIR/<split>/Synthetic_<Split>_000001/00000001.jpg ...
                                        /groundtruth.txt      x,y,w,h per line, 4 decimals, clipped to the image
                                        /absence.label        1 = target absent (cover 0)
                                        /cover.label          visible fraction in eighths, 0..8
                                        /cut_by_image.label   1 = the full target box leaves the image
                                        /meta_info.ini        GOT-10k style meta data

    DIR/<split>/complete.json                written last: the settings and the number of videos

Sequence ``i`` is video ``i - 1`` of ``SyntheticVideoDataset(split, num_sequences=N, seed=seed)``.
Each sequence is written to a temporary folder and renamed into place, so an interrupted run
never leaves a half-written sequence; a rerun with the same settings verifies the annotations of
existing sequences and writes only what is missing or different.

``complete.json`` is the completeness marker: it is written after every sequence, ``list.txt`` and
``attributes.json``, and removed before a run changes anything in the folder, so a folder without
it (or with one recording other settings) is never taken as finished.
:func:`ensure_got10k_layout` builds on it for data generated on first use: it reuses a split whose
marker records the requested settings, and otherwise writes the whole split into a temporary
folder next to it and renames that into place.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import cv2
import numpy as np

from ltr.admin.atomic import atomic_write_text, fsync_dir
from ltr.dataset.synthetic import (SyntheticConfig, SyntheticVideo, default_texture_set, generate_video,
                                   sequence_name, video_seed)

#: Version of the files written here; bump when their content changes for the same settings.
LAYOUT_VERSION = 1
#: Completeness marker of a split folder (see the module docstring).
COMPLETE_MARKER = "complete.json"
_TMP_PREFIX = ".tmp-"
_LABELS = ("absence.label", "cover.label", "cut_by_image.label")


def _json_text(value: Any) -> str:
    # sorted keys and a fixed indent: the same settings always give byte-identical files
    return json.dumps(value, indent=1, sort_keys=True) + "\n"


def annotation_texts(video: SyntheticVideo, split: str) -> Dict[str, str]:
    """Text of every annotation file of one sequence: {file name: content}.

    ``groundtruth.txt`` holds the image-clipped boxes (xywh pixels, 4 decimals); a target fully
    outside the image has a zero-size box on the border and ``absence`` 1.
    """
    boxes = video.clipped_boxes()
    h, w = video.image_size
    gt = "".join(f"{x:.4f},{y:.4f},{bw:.4f},{bh:.4f}\n" for x, y, bw, bh in boxes.tolist())
    absence = "".join(f"{int(not v)}\n" for v in video.visible.tolist())
    cover = "".join(f"{int(c)}\n" for c in video.cover.tolist())
    cut = "".join(f"{int(c)}\n" for c in video.frame_attributes["cut_by_image"].tolist())
    speed = video.mean_speed / max(min(h, w) * video.config.speed, 1e-6)
    adverb = "slowly" if speed < 0.7 else "quickly" if speed > 1.3 else "steadily"
    motion = "darting" if video.attributes["fast_motion"] else "gliding"
    seconds = int(round(video.num_frames / 10))
    meta = ("[METAINFO]\n"
            f"url: synthetic://{split}/{video.seed}\n"
            "begin_time: 00:00:00\n"
            f"end_time: {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}\n"
            "anno_fps: 10Hz\n"
            f"object_class: {video.object_class}\n"
            f"motion_class: {motion}\n"
            f"major_class: {video.object_shape}\n"
            "root_class: synthetic_object\n"
            f"motion_adverb: {adverb}\n"
            f"resolution: ({w}, {h})\n")
    return {"groundtruth.txt": gt, "absence.label": absence, "cover.label": cover,
            "cut_by_image.label": cut, "meta_info.ini": meta}


def _frame_name(index: int) -> str:
    return f"{index + 1:08d}.jpg"


def _is_complete(seq_dir: Path, texts: Dict[str, str], num_frames: int) -> bool:
    """True when the folder holds every frame and annotations identical to ``texts``."""
    if not seq_dir.is_dir():
        return False
    for name, text in texts.items():
        path = seq_dir / name
        try:
            if path.read_text(encoding="utf-8") != text:
                return False
        except OSError:
            return False
    return all((seq_dir / _frame_name(i)).is_file() for i in range(num_frames))


def _write_sequence(seq_dir: Path, video: SyntheticVideo, texts: Dict[str, str], jpeg_quality: int) -> None:
    tmp = seq_dir.with_name(f"{_TMP_PREFIX}{seq_dir.name}-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
    for i in range(video.num_frames):
        frame = video.render_frame(i)
        path = tmp / _frame_name(i)
        if not cv2.imwrite(str(path), np.ascontiguousarray(frame[..., ::-1]), params):
            raise OSError(f"could not write {path}")
    for name, text in texts.items():
        (tmp / name).write_text(text, encoding="utf-8")
    video.release_pixels()
    if seq_dir.exists():  # an outdated or damaged sequence: replace it
        shutil.rmtree(seq_dir)
    try:
        os.rename(tmp, seq_dir)
    except OSError:
        # another writer finished the same sequence first; its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)
        if not seq_dir.is_dir():
            raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_tmp(split_dir: Path) -> None:
    """Delete temporary folders and files left by interrupted runs (their process is gone)."""
    for entry in split_dir.iterdir():
        if not entry.name.startswith(_TMP_PREFIX):
            continue
        pid_text = entry.name.rsplit("-", 1)[-1]
        if pid_text.isdigit() and _pid_alive(int(pid_text)) and int(pid_text) != os.getpid():
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _flatten(settings: Dict) -> Dict[str, object]:
    flat = {k: v for k, v in settings.items() if k != "config"}
    flat.update(settings.get("config", {}))
    return flat


def _settings_diff(existing: Optional[Dict], requested: Dict) -> str:
    if not isinstance(existing, dict):
        return "unreadable generation.json"
    old, new = _flatten(existing), _flatten(requested)
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)} there, {new.get(k)} requested" for k in keys)


def _check_settings(split_dir: Path, settings: Dict) -> None:
    path = split_dir / "generation.json"
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            existing = None
        if existing != settings:
            raise ValueError(f"{split_dir} was written with other settings ({_settings_diff(existing, settings)}; "
                             f"see {path}). Use another --root or delete {split_dir}.")
    else:
        atomic_write_text(path, _json_text(settings))


def _resolve_config(split: str, frames: Optional[int], config: Optional[SyntheticConfig]) -> SyntheticConfig:
    """The config a split is written with: ``frames`` and the split's texture set filled in."""
    config = config or SyntheticConfig()
    if frames is not None:
        config = dataclasses.replace(config, num_frames=int(frames))
    if config.texture_set is None:
        config = dataclasses.replace(config, texture_set=default_texture_set(split))
    return config


def _generation_settings(split: str, seed: int, jpeg_quality: int, config: SyntheticConfig) -> Dict[str, Any]:
    """What ``generation.json`` records: everything that fixes the content of each sequence."""
    return {"layout_version": LAYOUT_VERSION, "split": split, "seed": int(seed),
            "jpeg_quality": int(jpeg_quality), "config": config.to_dict()}


def completion_record(split: str = "test", num_videos: int = 60, frames: Optional[int] = None, seed: int = 0,
                      config: Optional[SyntheticConfig] = None, jpeg_quality: int = 90) -> Dict[str, Any]:
    """The content of ``complete.json`` for a split written with these arguments (those of
    :func:`write_got10k_layout`): the generation settings plus the number of videos."""
    record = _generation_settings(split, seed, jpeg_quality, _resolve_config(split, frames, config))
    record["num_videos"] = int(num_videos)
    return record


def read_completion(split_dir: Union[str, Path]) -> Optional[Dict[str, Any]]:
    """The completeness marker of ``split_dir``, or None when it is missing or unreadable."""
    try:
        value = json.loads((Path(split_dir) / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_split(split_dir: Path, split: str, num_videos: int, seed: int, config: SyntheticConfig,
                 jpeg_quality: int, progress: bool) -> int:
    """Write (or repair) every sequence, the lists and, last, the marker; returns how many
    sequences had to be written."""
    settings = _generation_settings(split, seed, jpeg_quality, config)
    record = dict(settings, num_videos=int(num_videos))
    split_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(split_dir, settings)
    _remove_stale_tmp(split_dir)
    marker = split_dir / COMPLETE_MARKER
    if marker.exists() and read_completion(split_dir) != record:
        # list.txt at least is about to change: an interruption from here on must not look finished
        marker.unlink()
        fsync_dir(split_dir)

    names: List[str] = []
    attributes: Dict[str, Dict[str, bool]] = {}
    indices: Sequence[int] = range(num_videos)
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc=f"synthetic {split}", unit="video")
    written = 0
    for i in indices:
        name = sequence_name(split, i)
        video = generate_video(video_seed(split, seed, i), config)
        texts = annotation_texts(video, split)
        seq_dir = split_dir / name
        if not _is_complete(seq_dir, texts, video.num_frames):
            if marker.exists():
                # a repair replaces the sequence folder; until the run ends it must not look finished
                marker.unlink()
                fsync_dir(split_dir)
            _write_sequence(seq_dir, video, texts, jpeg_quality)
            written += 1
        names.append(name)
        attributes[name] = dict(video.attributes)
    atomic_write_text(split_dir / "list.txt", "".join(f"{n}\n" for n in names))
    atomic_write_text(split_dir / "attributes.json", _json_text(attributes))
    atomic_write_text(split_dir / COMPLETE_MARKER, _json_text(record))
    return written


def write_got10k_layout(root: Union[str, Path], split: str = "test", num_videos: int = 60,
                        frames: Optional[int] = None, seed: int = 0, config: Optional[SyntheticConfig] = None,
                        quiet: bool = True, jpeg_quality: int = 90) -> Path:
    """Write ``num_videos`` synthetic videos of ``split`` in GOT-10k layout under ``root/split``, in place.

    Args:
        root: dataset root; the split folder ``root/split`` is created.
        split: 'train', 'val' or 'test' (val and test use the unseen 'test' textures unless
            ``config.texture_set`` says otherwise).
        num_videos: number of sequences (``Synthetic_<Split>_000001`` ...).
        frames: frames per video; default ``config.num_frames``.
        seed: base seed (< 2**24); together with the split it fixes every video.
        config: generator knobs (image size, difficulty); default :class:`SyntheticConfig`.
        quiet: no progress bar.
        jpeg_quality: JPEG quality of the frames.
    Returns:
        the split folder ``root/split``.
    Raises:
        ValueError if the folder was written before with other settings.
    """
    if num_videos < 1:
        raise ValueError(f"num_videos must be positive, got {num_videos}")
    config = _resolve_config(split, frames, config)
    video_seed(split, seed, num_videos - 1)  # validates split, seed and count
    split_dir = Path(root).expanduser() / split
    written = _write_split(split_dir, split, num_videos, seed, config, jpeg_quality, progress=not quiet)
    if not quiet:
        print(f"{split_dir}: {written} sequences written, {num_videos - written} already complete")
    return split_dir


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` where the platform has one.

    Only saves a second process from generating the same split at the same time; correctness
    does not depend on it (publishing a split is a rename that loses gracefully to a finished copy).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError:  # e.g. a network filesystem without locks
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _publish(staged: Path, split_dir: Path, record: Dict[str, Any]) -> bool:
    """Rename the finished ``staged`` folder to ``split_dir``; False if a finished copy was there first.

    A ``split_dir`` without the requested marker (another config, an older layout, a folder left by
    an interrupted in-place run) is moved aside and deleted.
    """
    root = split_dir.parent
    for _ in range(5):
        if read_completion(split_dir) == record:
            return False
        displaced: Optional[Path] = None
        if split_dir.exists() or split_dir.is_symlink():
            displaced = root / f"{_TMP_PREFIX}old-{split_dir.name}-{os.getpid()}"
            if displaced.exists():
                shutil.rmtree(displaced)
            try:
                os.rename(split_dir, displaced)
            except FileNotFoundError:
                displaced = None  # another process moved it away first
        try:
            os.rename(staged, split_dir)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            published = False  # another process put its copy in place between the two renames
        else:
            published = True
        if displaced is not None:
            shutil.rmtree(displaced, ignore_errors=True)
        if published:
            fsync_dir(root)
            return True
    raise RuntimeError(f"could not put the generated split in place at {split_dir}: other processes keep "
                       f"replacing it; stop them or delete {split_dir} and retry")


def ensure_got10k_layout(root: Union[str, Path], split: str = "test", num_videos: int = 60,
                         frames: Optional[int] = None, seed: int = 0, config: Optional[SyntheticConfig] = None,
                         jpeg_quality: int = 90, progress: bool = True) -> Path:
    """The split folder ``root/split`` with exactly these settings, generated if needed.

    Same arguments as :func:`write_got10k_layout`. When ``root/split/complete.json`` records these
    settings the folder is returned untouched (nothing is generated or read beyond the marker).
    Otherwise the whole split is written into a temporary folder ``root/.tmp-<split>-<pid>`` and
    renamed to ``root/split``, replacing what was there; a generation that is killed leaves only
    the temporary folder, which a later call deletes. The files depend only on the arguments.

    Args:
        progress: show a tqdm progress bar (and a line saying what is generated where).
    Returns:
        the split folder ``root/split``.
    """
    if num_videos < 1:
        raise ValueError(f"num_videos must be positive, got {num_videos}")
    config = _resolve_config(split, frames, config)
    video_seed(split, seed, num_videos - 1)  # validates split, seed and count
    root = Path(root).expanduser()
    split_dir = root / split
    record = completion_record(split, num_videos, None, seed, config, jpeg_quality)
    if read_completion(split_dir) == record:
        return split_dir
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / f".{split}.lock"):
        if read_completion(split_dir) == record:  # another process finished it while we waited
            return split_dir
        _remove_stale_tmp(root)
        staged_root = root / f"{_TMP_PREFIX}{split}-{os.getpid()}"
        if staged_root.exists():
            shutil.rmtree(staged_root)
        try:
            if progress:
                h, w = config.image_size
                print(f"Synthetic: generating the '{split}' split ({num_videos} videos x {config.num_frames} "
                      f"frames, {w}x{h}, seed {seed}) into {split_dir}; later runs reuse it", file=sys.stderr,
                      flush=True)
            _write_split(staged_root / split, split, num_videos, seed, config, jpeg_quality, progress)
            _publish(staged_root / split, split_dir, record)
        finally:
            shutil.rmtree(staged_root, ignore_errors=True)
    return split_dir


def _preview_frames(video: SyntheticVideo, count: int) -> List[int]:
    """Frames worth showing: the first, the run-up to and the middle of a full occlusion, an exit."""
    n = video.num_frames
    picks = {0}
    hidden = np.flatnonzero(video.frame_attributes["full_occlusion"])
    if len(hidden):
        picks.update({int(hidden[0]), max(int(hidden[0]) - 2, 1)})
    out = np.flatnonzero(video.frame_attributes["out_of_view"])
    if len(out):
        picks.add(int(out[len(out) // 2]))
    for i in np.linspace(0, n - 1, count).round().astype(int):
        if len(picks) >= count:
            break
        picks.add(int(i))
    return sorted(picks)[:count]


def render_preview(videos: Sequence[SyntheticVideo], frames_per_row: int = 5, zoom: int = 2,
                   labels: Optional[Sequence[str]] = None) -> np.ndarray:
    """An RGB uint8 contact sheet: one row per video, boxes drawn (green visible, red absent).

    Each tile is labelled with the frame number and the cover level (0..8).
    """
    rows = []
    for r, video in enumerate(videos):
        tiles = []
        for i in _preview_frames(video, frames_per_row):
            tile = cv2.resize(video.render_frame(i), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
            x, y, w, h = (video.boxes[i] * zoom).tolist()
            colour = (40, 230, 40) if video.visible[i] else (240, 40, 40)
            cv2.rectangle(tile, (int(round(x)), int(round(y))), (int(round(x + w)) - 1, int(round(y + h)) - 1),
                          colour, 1)
            lines = [f"frame {i + 1}  cover {video.cover[i]}"]
            if labels and not tiles:
                lines.append(labels[r])
            for k, text in enumerate(lines):
                (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
                y = 12 + 13 * k
                # dark label background keeps the text readable on any texture
                tile[y - th - 2:y + base, 1:tw + 5] //= 3
                cv2.putText(tile, text, (3, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
            tiles.append(np.full((tile.shape[0], 2, 3), 255, np.uint8))
        rows.append(np.concatenate(tiles[:-1], axis=1))
        rows.append(np.full((2, rows[-1].shape[1], 3), 255, np.uint8))
    return np.concatenate(rows[:-1], axis=0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(description="Write synthetic tracking videos in GOT-10k layout.")
    parser.add_argument("--root", default=None,
                        help="dataset root (default: the synthetic_dir setting, SLT_SYNTHETIC_DIR)")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--num-videos", type=int, default=60)
    parser.add_argument("--frames", type=int, default=None, help="frames per video (default 48)")
    parser.add_argument("--seed", type=int, default=0, help="base seed, 0 <= seed < 2**24")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), default=None)
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--preview", metavar="PNG", default=None,
                        help="instead of writing the dataset, save a contact sheet of the first videos to PNG")
    args = parser.parse_args(argv)
    root = args.root
    if root is None:
        from ltr.admin.environment import env_settings
        root = env_settings().synthetic_dir
    config = SyntheticConfig()
    if args.image_size is not None:
        config = dataclasses.replace(config, image_size=tuple(args.image_size))
    if args.preview:
        config = dataclasses.replace(config, texture_set=config.texture_set or default_texture_set(args.split))
        if args.frames is not None:
            config = dataclasses.replace(config, num_frames=args.frames)
        videos = [generate_video(video_seed(args.split, args.seed, i), config) for i in range(args.num_videos)]
        sheet = render_preview(videos, labels=[sequence_name(args.split, i) for i in range(args.num_videos)])
        Path(args.preview).expanduser().parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(args.preview), sheet[..., ::-1], [int(cv2.IMWRITE_PNG_COMPRESSION), 9]):
            print(f"error: could not write {args.preview}", file=sys.stderr)
            return 1
        print(args.preview)
        return 0
    try:
        path = write_got10k_layout(root, args.split, args.num_videos, args.frames, args.seed, config,
                                   quiet=args.quiet, jpeg_quality=args.jpeg_quality)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.quiet:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
