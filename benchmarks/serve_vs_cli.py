"""The web page against the CLI: one 100-frame 176x144 clip (the carphone sample) upscaled both ways.

CLI: `spectraframe upscale clip.mp4 -o out.mp4` in a subprocess, wall time. Page: `spectraframe serve` with the
default weights, driven by headless Debian Chromium (Selenium): upload, Upscale, wait for "Done"; wall time
from the click to the result, and the time the page reports. Same weights, same defaults, same machine, one run.
Needs chromium + chromium-driver and the `web` extra.

Run: `make bench BENCH=serve_vs_cli` or `python -m benchmarks.serve_vs_cli`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.common import write_result

FRAMES = 100


def cut_sample(path: Path, frames: int) -> Path:
    """The first `frames` frames of the bundled carphone clip, re-encoded losslessly (x264 qp 0)."""
    import av

    from spectraframe.demo import sample_clip_path

    with av.open(str(sample_clip_path())) as source, av.open(str(path), "w") as out:
        stream_in = source.streams.video[0]
        stream = out.add_stream("libx264", rate=stream_in.average_rate or 30)
        stream.width, stream.height, stream.pix_fmt = stream_in.width, stream_in.height, "yuv420p"
        stream.options = {"qp": "0"}
        for i, frame in enumerate(source.decode(stream_in)):
            if i == frames:
                break
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def time_cli(clip: Path, folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "spectraframe", "upscale", str(clip), "-o", str(folder / "cli.mp4"),
                    "--no-progress"], check=True, capture_output=True)
    return time.perf_counter() - started


def time_page(clip: Path, folder: Path) -> tuple[float, float]:
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "spectraframe", "serve", "--port", str(port),
                               "--workdir", str(folder / "work")], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={folder / 'profile'}"):
        options.add_argument(flag)
    driver = None
    try:
        def up() -> bool:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                return True
            except OSError:
                return False

        wait_for(up, 300, "the server")
        driver = webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)
        driver.get(url)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"), 60, "the upload")[0] \
            .send_keys(str(clip))
        wait_for(lambda: clip.stem in driver.find_element(By.ID, "upload").text, 60, "the upload to show")
        started = time.perf_counter()
        driver.find_element(By.ID, "run").click()
        status = wait_for(lambda: "Done" in (text := driver.find_element(By.ID, "status").text) and text, 900,
                          "the result")
        wall = time.perf_counter() - started
        reported = float(re.search(r"in ([0-9.]+) s", status).group(1))
        return wall, reported
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        raise SystemExit("needs Debian's chromium and chromium-driver")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        clip = cut_sample(folder / "carphone100.mp4", FRAMES)
        load = os.getloadavg()[0]
        cli = time_cli(clip, folder)
        page_wall, page_reported = time_page(clip, folder)
    rows = [{"way": "CLI (spectraframe upscale)", "seconds": cli, "frames_per_s": FRAMES / cli},
            {"way": "page, click to result", "seconds": page_wall, "frames_per_s": FRAMES / page_wall},
            {"way": "page, as it reports", "seconds": page_reported, "frames_per_s": FRAMES / page_reported}]
    notes = (f"{FRAMES} frames of the carphone sample, 176x144 -> 704x576, default weights and options, one run; "
             f"load average {load:.1f} at the start. The CLI figure includes its start-up (torch import, model "
             "load); the page's server was started before the click.")
    write_result("serve_vs_cli", rows, ["way", "seconds", "frames_per_s"], notes)


if __name__ == "__main__":
    main(sys.argv[1:])
