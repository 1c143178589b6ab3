"""Live visualisation against a real visdom server started with the project's launcher."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tests.doubles  # noqa: F401  (registers the 'double' tracker)
from pytracking.evaluation.tracker import Tracker
from pytracking.utils import visdom as vis
from tests.doubles.sequences import make_sequence, write_got10k_layout

REPO = Path(__file__).resolve().parents[1]
visdom = pytest.importorskip(
    "visdom", reason="visdom is not installed (scripts/setup_env.sh installs it from source)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"visdom server exited early: {proc.stdout.read() if proc.stdout else ''}")
        if vis.server_reachable("127.0.0.1", port, 0.2)[0]:
            return
        time.sleep(0.1)
    raise TimeoutError(f"visdom server did not open port {port} within {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A visdom server on a free loopback port; always terminated (then killed) afterwards."""
    port = _free_port()
    env_path = tmp_path_factory.mktemp("visdom_env")
    proc = subprocess.Popen([sys.executable, "-m", "pytracking.utils.visdom_server", "--port", str(port),
                             "--env-path", str(env_path)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_port(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _reader(port: int, env: str):
    """visdom's own client, used to inspect what the server holds."""
    return visdom.Visdom(server="http://127.0.0.1", port=port, env=env, use_incoming_socket=False,
                         raise_exceptions=True)


def _window(reader, win: str, env: str) -> dict:
    data = json.loads(reader.get_window_data(win, env=env))
    return data


def _cli_env(tmp_path: Path) -> dict:
    env = dict(os.environ)
    env.update({"SLT_LOCAL_SETTINGS": str(tmp_path / "local_settings.py"),
                "SLT_RESULTS_DIR": str(tmp_path / "results"), "OMP_NUM_THREADS": "1"})
    return env


def _non_loopback_address():
    # Connecting a UDP socket sends nothing; it only picks the interface a packet would leave by.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_server_listens_on_loopback_only(server):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    assert vis.server_reachable("127.0.0.1", server)[0]
    assert not vis.server_reachable(address, server, 0.5)[0]


def test_page_is_served(server):
    import requests

    page = requests.get(f"http://127.0.0.1:{server}/", timeout=5)
    assert page.status_code == 200 and "js/main.js" in page.text


def test_debug_run_streams_frame_score_map_and_info(server, tmp_path):
    root = write_got10k_layout(tmp_path / "synthetic", split="test", count=1, num_frames=9)
    env = "test_cli_debug"
    result = subprocess.run([sys.executable, "pytracking/run_tracker.py", "double", "default", "synthetic",
                             "--dataset-root", str(root), "--tracker-module", "tests.doubles", "--debug", "1",
                             "--visdom-port", str(server), "--visdom-env", env],
                            cwd=REPO, env=_cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    assert (tmp_path / "results" / "double" / "default" / "Synth_000.txt").is_file()

    reader = _reader(server, env)
    for win in (vis.FRAME_WIN, vis.SCORE_WIN, vis.CROP_WIN, vis.INFO_WIN, vis.CONTROLS_WIN):
        assert reader.win_exists(win, env=env), win
    frame = _window(reader, vis.FRAME_WIN, env)
    assert frame["type"] == "image" and frame["content"]["src"].startswith("data:image/jpeg;base64,")
    score = _window(reader, vis.SCORE_WIN, env)
    z = np.asarray(score["content"]["data"][0]["z"], dtype=float)
    assert score["content"]["data"][0]["type"] == "heatmap" and z.ndim == 2 and z.max() > 0
    info = _window(reader, vis.INFO_WIN, env)["content"]
    assert "Synth_000" in info and "9 / 9" in info  # the last frame's state
    assert "space" in _window(reader, vis.CONTROLS_WIN, env)["content"]


def test_line_plots_grow_point_by_point(server):
    env = "test_lines"
    client = vis.Visdom(port=server, env=env, controls=False)
    assert client.connected
    client.register_line("loss", 1, 0.5)
    client.register_line("loss", 2, 0.4)
    client.register_line("loss", 2, 0.7, series="val")
    traces = _window(_reader(server, env), "loss", env)["content"]["data"]
    by_name = {t["name"]: t for t in traces}
    assert by_name["loss"]["x"] == [1, 2] and by_name["loss"]["y"] == [0.5, 0.4]
    assert by_name["val"]["y"] == [0.7]
    client.register("text body", "text", caption="Notes")
    assert "text body" in _window(_reader(server, env), "Notes", env)["content"]
    with pytest.raises(ValueError):
        client.register(1, "no_such_block", caption="x")
    client.shutdown()


def _frame_shown(reader, env: str) -> int:
    content = _window(reader, vis.INFO_WIN, env)["content"]
    return int(re.search(r"frame</b>: (\d+) /", content).group(1))


def _send_key(port: int, key: str, env: str) -> None:
    """What the page sends when a key is pressed in the Controls window."""
    import websocket

    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/socket", timeout=5)
    try:
        ws.send(json.dumps({"cmd": "forward_to_vis", "data": {"target": vis.CONTROLS_WIN, "eid": env,
                                                                "event_type": "KeyPress", "key": key}}))
    finally:
        ws.close()


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_keyboard_pauses_and_steps(server, tmp_path):
    env = "test_keys"
    seq = make_sequence(tmp_path, "keys", num_frames=40, seed=5)
    client = vis.Visdom(port=server, env=env)
    assert client.connected and _wait(lambda: client.listening)
    tracker = Tracker("double", "paced", results_root=str(tmp_path))
    output = {}
    worker = threading.Thread(target=lambda: output.update(tracker.run_sequence(seq, debug=1, visdom=client)))
    worker.start()
    reader = _reader(server, env)
    try:
        assert _wait(lambda: reader.win_exists(vis.INFO_WIN, env=env))
        _send_key(server, " ", env)
        assert _wait(lambda: client.paused)
        time.sleep(0.5)
        paused_at = _frame_shown(reader, env)
        time.sleep(0.5)
        assert _frame_shown(reader, env) == paused_at < 40
        assert "PAUSED" in _window(reader, vis.CONTROLS_WIN, env)["content"]
        _send_key(server, "ArrowRight", env)
        assert _wait(lambda: _frame_shown(reader, env) == paused_at + 1)
        time.sleep(0.4)
        assert _frame_shown(reader, env) == paused_at + 1
        _send_key(server, " ", env)
        worker.join(timeout=20)
        assert not worker.is_alive() and len(output["target_bbox"]) == 40
    finally:
        client.paused = False
        worker.join(timeout=20)
        client.shutdown()


def test_unreachable_server_warns_once_and_tracking_continues(tmp_path):
    port = _free_port()  # nothing listens there
    warnings = []
    client = vis.Visdom(port=port, warn=warnings.append)
    assert not client.connected and len(warnings) == 1 and f"127.0.0.1:{port}" in warnings[0]
    client.register_tracking_frame(np.zeros((8, 8, 3), np.uint8), [1, 1, 2, 2], [1, 1, 2, 2])
    client.register_line("loss", 0, 1.0)
    client.wait_if_paused()
    assert len(warnings) == 1
    assert vis.open_visdom(1, port=port, warn=warnings.append) is None

    root = write_got10k_layout(tmp_path / "synthetic", split="test", count=2, num_frames=5)
    start = time.monotonic()
    result = subprocess.run([sys.executable, "pytracking/run_tracker.py", "double", "default", "synthetic",
                             "--dataset-root", str(root), "--tracker-module", "tests.doubles", "--debug", "1",
                             "--visdom-port", str(port)],
                            cwd=REPO, env=_cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 30
    warning_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("WARNING: no visdom server")
    assert "python -m pytracking.utils.visdom_server" in warning_lines[0]
    assert len(list((tmp_path / "results" / "double" / "default").glob("Synth_*_time.txt"))) == 2


def test_images_are_downscaled_and_boxes_drawn():
    image = np.zeros((40, 60, 3), np.uint8)
    drawn = vis.draw_boxes(image, [([10, 5, 20, 10], vis.GT_COLOR), ([np.nan, 0, 1, 1], vis.PRED_COLOR)])
    assert tuple(drawn[5, 15]) == vis.GT_COLOR and image.max() == 0
    client = vis.Visdom.__new__(vis.Visdom)
    client.max_image_size = 30
    small, scale = vis.Visdom._fit(client, image)
    assert small.shape == (20, 30, 3) and scale == 0.5
