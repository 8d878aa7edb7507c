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


def process_cpu_seconds(matches) -> float:
    """User + system CPU seconds so far of the processes whose argument list satisfies `matches` (Linux /proc)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if matches(arguments):
            fields = stat[stat.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def is_server(arguments: list[str]) -> bool:
    return "spectraframe" in arguments and "serve" in arguments


def is_browser(arguments: list[str]) -> bool:
    return Path(arguments[0]).name.startswith("chrom")


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


def time_cli(clip: Path, folder: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `spectraframe upscale` in a subprocess, start-up included."""
    import resource

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    cpu_before, started = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "spectraframe", "upscale", str(clip), "-o", str(folder / "cli.mp4"),
                    "--no-progress"], check=True, capture_output=True)
    return time.perf_counter() - started, children_cpu() - cpu_before


def time_page(clip: Path, folder: Path) -> tuple[float, float, float, float]:
    """(wall seconds from the click to "Done", seconds the page reports, CPU seconds of the server and of the
    browser from the click to "Done")."""
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
        server_cpu, browser_cpu = process_cpu_seconds(is_server), process_cpu_seconds(is_browser)
        started = time.perf_counter()
        driver.find_element(By.ID, "run").click()
        status = wait_for(lambda: "Done" in (text := driver.find_element(By.ID, "status").text) and text, 900,
                          "the result")
        wall = time.perf_counter() - started
        server_cpu = process_cpu_seconds(is_server) - server_cpu
        browser_cpu = process_cpu_seconds(is_browser) - browser_cpu
        reported = float(re.search(r"in ([0-9.]+) s", status).group(1))
        return wall, reported, server_cpu, browser_cpu
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
        cli, cli_cpu = time_cli(clip, folder)
        page_wall, page_reported, server_cpu, browser_cpu = time_page(clip, folder)
    rows = [{"way": "CLI (spectraframe upscale)", "seconds": cli, "frames_per_s": FRAMES / cli, "cpu_s": cli_cpu},
            {"way": "page, click to result: server", "seconds": page_wall, "frames_per_s": FRAMES / page_wall,
             "cpu_s": server_cpu},
            {"way": "page, click to result: browser", "seconds": page_wall, "frames_per_s": FRAMES / page_wall,
             "cpu_s": browser_cpu},
            {"way": "page, as it reports", "seconds": page_reported, "frames_per_s": FRAMES / page_reported,
             "cpu_s": ""}]
    notes = (f"{FRAMES} frames of the carphone sample, 176x144 -> 704x576, default weights and options, one run; "
             f"load average {load:.1f} at the start. The CLI figures include its start-up (torch import, model "
             "load); the page's server was started before the click. cpu_s: user + system CPU seconds of the "
             "process(es), which other load on the machine changes far less than wall time; the browser runs on "
             "the same cores as the server, as it does for a person using the page on their own computer.")
    write_result("serve_vs_cli", rows, ["way", "seconds", "frames_per_s", "cpu_s"], notes)


if __name__ == "__main__":
    main(sys.argv[1:])
