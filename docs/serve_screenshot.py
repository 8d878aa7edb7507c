"""`make screenshot`: docs/serve.png, the page of `spectraframe serve` after upscaling the first frames of the
sample clip with the default shipped weights (compact when the default file is not in this checkout).

Needs Debian's chromium and chromium-driver; the server and the browser run on 127.0.0.1 and are stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import av
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from spectraframe.demo import sample_clip_path
from spectraframe.errors import SpectraFrameError
from spectraframe.io.video import read_video_frames
from spectraframe.zoo import load_zoo, model_weights_path

FRAMES = 24


def first_frames(clip: Path, out: Path, count: int) -> Path:
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        for i, image in enumerate(read_video_frames(clip, count=count)):
            if i == 0:
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return out


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, help="PNG to write, e.g. docs/serve.png")
    args = parser.parse_args()
    try:
        model_weights_path(load_zoo().default_model)
        model = load_zoo().default_model
    except SpectraFrameError:
        model = "compact"
    with tempfile.TemporaryDirectory(prefix="spectraframe-screenshot-") as folder:
        folder = Path(folder)
        clip = first_frames(sample_clip_path(), folder / "carphone.mp4", FRAMES)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "spectraframe", "serve", "--port", str(port),
                                   "--workdir", str(folder / "work")], cwd=folder)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1250", "--hide-scrollbars", f"--user-data-dir={folder / 'profile'}"):
            options.add_argument(flag)
        browser = None
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_for(lambda: _answers(url), 300, "the server")
            browser = webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)
            browser.get(url)
            wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"), 60, "the page")
            browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(clip))
            wait_for(lambda: "carphone" in browser.find_element(By.ID, "upload").text, 60, "the upload")
            choice = browser.find_element(By.CSS_SELECTOR, "#model input")
            choice.click()
            choice.send_keys(Keys.CONTROL, "a")
            choice.send_keys(model, Keys.ENTER)
            browser.find_element(By.ID, "run").click()
            wait_for(lambda: "Done" in browser.find_element(By.ID, "status").text, 1200, "the upscale")
            time.sleep(2)  # the pictures load
            args.out.parent.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(args.out))
        finally:
            if browser is not None:
                browser.quit()
            server.terminate()
            server.wait(timeout=60)
    print(f"wrote {args.out}")
    return 0


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
