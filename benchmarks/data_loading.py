"""Frame loading speed: jpeg4py vs OpenCV decoding, image folders vs LMDB.

    python benchmarks/data_loading.py [--sequences 20] [--frames 30] [--size 640x480] [--repeats 3] [--json FILE]

A LaSOT-layout dataset of ``--sequences`` x ``--frames`` JPEGs (gradients, noise and a moving
textured box, quality 90) is generated in a temporary folder and packed into an LMDB. Every
frame is then read through the dataset interface (``get_frames``) and

* decoded only, and
* decoded, cropped around its box (context factor 2, as Siamese trackers do) and resized to
  256x256 with OpenCV,

for each (source, decoder) pair. One process, OpenCV on one thread; the files are read once
before timing, so the numbers compare decoding and container overhead with a warm page cache
(a cold disk favours LMDB further). Reported: frames/s, best of ``--repeats`` passes.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import cpu_model, usable_cores  # noqa: E402
from ltr.data.image_loader import decode_image_bytes, imread_rgb, jpeg4py_available  # noqa: E402
from ltr.dataset import Lasot, LmdbDataset, pack_dataset  # noqa: E402

CROP_SIZE = 256


def machine_info() -> Dict[str, str]:
    """CPU model, core counts and library versions."""
    cpu, usable = cpu_model("unknown"), usable_cores()
    import torch

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "usable_cores": str(usable),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "jpeg4py": "available" if jpeg4py_available() else "missing (OpenCV fallback)",
    }


def generate_dataset(root: Path, sequences: int, frames: int, width: int, height: int, seed: int = 0) -> None:
    """LaSOT-layout folders of synthetic JPEG frames with a moving box and its ground truth."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for s in range(sequences):
        seq_dir = root / "bench" / f"bench-{s + 1}"
        (seq_dir / "img").mkdir(parents=True, exist_ok=True)
        background = np.stack([xx / width * 255, yy / height * 255, (xx + yy) / (width + height) * 255], axis=2)
        texture = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
        w, h = int(rng.integers(40, 160)), int(rng.integers(40, 160))
        x, y = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
        vx, vy = rng.normal(0, 4, 2)
        boxes = []
        for f in range(frames):
            x, y = float(np.clip(x + vx, 0, width - w)), float(np.clip(y + vy, 0, height - h))
            image = np.clip(background + rng.normal(0, 12, background.shape), 0, 255).astype(np.uint8)
            image[int(y):int(y) + h, int(x):int(x) + w] = cv2.resize(texture, (w, h), interpolation=cv2.INTER_NEAREST)
            cv2.imwrite(str(seq_dir / "img" / f"{f + 1:08d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            boxes.append(f"{int(x)},{int(y)},{w},{h}")
        (seq_dir / "groundtruth.txt").write_text("\n".join(boxes) + "\n")
        zeros = ",".join("0" for _ in range(frames)) + "\n"
        (seq_dir / "full_occlusion.txt").write_text(zeros)
        (seq_dir / "out_of_view.txt").write_text(zeros)


def crop_and_resize(image: np.ndarray, box) -> np.ndarray:
    """Square crop of side 2*sqrt(w*h) centred on the box (xywh px), resized to 256x256; the
    part outside the image is filled with the mean colour."""
    x, y, w, h = (float(v) for v in box)
    side = 2.0 * np.sqrt(max(w, 1.0) * max(h, 1.0))
    scale = CROP_SIZE / side
    cx, cy = x + w / 2, y + h / 2
    matrix = np.array([[scale, 0, CROP_SIZE / 2 - scale * cx], [0, scale, CROP_SIZE / 2 - scale * cy]])
    fill = cv2.mean(image)[:3]
    return cv2.warpAffine(image, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def time_pass(dataset, crop: bool) -> Tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to read every frame of every sequence, one
    get_frames call per frame. CPU time is what the work costs on a busy machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    for seq_id in range(dataset.get_num_sequences()):
        boxes = dataset.get_sequence_info(seq_id)["bbox"]
        for f in range(len(boxes)):
            frames, anno, _ = dataset.get_frames(seq_id, [f])
            if crop:
                crop_and_resize(frames[0], anno["bbox"][0])
    return time.perf_counter() - wall, time.process_time() - cpu


def run(args) -> Dict[str, object]:
    width, height = (int(v) for v in args.size.lower().split("x"))
    cv2.setNumThreads(1)
    workdir = Path(tempfile.mkdtemp(prefix="slt_data_bench_"))
    try:
        t0 = time.perf_counter()
        generate_dataset(workdir / "folder", args.sequences, args.frames, width, height)
        folder_bytes = sum(p.stat().st_size for p in (workdir / "folder").rglob("*.jpg"))
        generate_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lmdb_path = pack_dataset(Lasot(str(workdir / "folder")), workdir / "lmdb", progress=False)
        pack_s = time.perf_counter() - t0

        loaders: Dict[str, Callable] = {
            "jpeg4py": functools.partial(imread_rgb, backend="jpeg4py"),
            "opencv": functools.partial(imread_rgb, backend="opencv"),
        }
        decoders: Dict[str, Callable] = {
            "jpeg4py": functools.partial(decode_image_bytes, backend="jpeg4py"),
            "opencv": functools.partial(decode_image_bytes, backend="opencv"),
        }
        configs = [("folder", name, Lasot(str(workdir / "folder"), image_loader=loader))
                   for name, loader in loaders.items()]
        configs += [("lmdb", name, LmdbDataset(str(lmdb_path), image_loader=decoder))
                    for name, decoder in decoders.items()]
        total = args.sequences * args.frames
        for _, _, dataset in configs:  # warm the page cache and the decoders
            time_pass(dataset, crop=False)
        best = {(source, decoder, crop): [float("inf"), float("inf")]
                for source, decoder, _ in configs for crop in (False, True)}
        # configurations interleaved within each repeat, so load from other processes hits all alike
        for _ in range(args.repeats):
            for source, decoder, dataset in configs:
                for crop in (False, True):
                    wall, cpu = time_pass(dataset, crop)
                    entry = best[(source, decoder, crop)]
                    entry[0], entry[1] = min(entry[0], wall), min(entry[1], cpu)
        results: List[Dict[str, object]] = []
        for source, decoder, _ in configs:
            decode, crop = best[(source, decoder, False)], best[(source, decoder, True)]
            results.append({"source": source, "decoder": decoder, "frames": total,
                            "decode_fps": total / decode[0], "decode_crop_fps": total / crop[0],
                            "decode_fps_cpu": total / decode[1], "decode_crop_fps_cpu": total / crop[1]})
        return {
            "machine": machine_info(),
            "setup": {"sequences": args.sequences, "frames_per_sequence": args.frames, "width": width,
                      "height": height, "jpeg_bytes_total": folder_bytes, "repeats": args.repeats,
                      "crop_size": CROP_SIZE, "generate_s": generate_s, "pack_lmdb_s": pack_s},
            "results": results,
        }
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def format_table(report: Dict[str, object]) -> str:
    m, s = report["machine"], report["setup"]
    lines = [
        f"# {m['cpu']} | {m['cores']} cores ({m['usable_cores']} usable) | python {m['python']} | "
        f"torch {m['torch']} | opencv {m['opencv']} | jpeg4py {m['jpeg4py']}",
        f"# {s['sequences']} sequences x {s['frames_per_sequence']} frames of {s['width']}x{s['height']} JPEG "
        f"({s['jpeg_bytes_total'] / 2**20:.1f} MiB), 1 process, warm cache, best of {s['repeats']}; "
        f"crop+resize to {s['crop_size']}x{s['crop_size']}",
        "# frames/s by wall time and per CPU-second of this process (the latter is steadier on a busy machine)",
        "",
        "| source | decoder | frames | decode | decode+crop | decode (CPU) | decode+crop (CPU) |",
        "|--------|---------|-------:|-------:|------------:|-------------:|------------------:|",
    ]
    for r in report["results"]:
        lines.append(f"| {r['source']} | {r['decoder']} | {r['frames']} | {r['decode_fps']:.0f} | "
                     f"{r['decode_crop_fps']:.0f} | {r['decode_fps_cpu']:.0f} | {r['decode_crop_fps_cpu']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> Dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", type=int, default=20)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", default="640x480", help="frame size WxH")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per configuration (best is kept)")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args(argv)
    report = run(args)
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
