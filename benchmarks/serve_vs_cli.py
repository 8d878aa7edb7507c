"""The web page against the CLI: one 100-frame 176x144 clip (the carphone sample) upscaled both ways.

CLI: `spectraframe upscale clip.mp4 -o out.mp4` in a subprocess, wall time. Page: `spectraframe serve` with the
default weights, driven by headless Debian Chromium (Selenium): upload, Upscale, wait for "Done"; wall time
from the click to the result, and the time the page reports; and the same server driven by Gradio's Python client
without a browser. Same weights, same defaults, same machine; the ways alternate, three runs each.
Needs chromium + chromium-driver and the `web` extra.

Run: `make bench BENCH=serve_vs_cli` or `python -m benchmarks.serve_vs_cli`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.common import write_result
from spectraframe.upscale.weights import DEFAULT_NAME
from spectraframe.web.jobs import NETWORK_SIZE

FRAMES = 100
REPEATS = 3


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


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used so far (user, nice, system, irq, softirq; /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def is_server(arguments: list[str]) -> bool:
    return "spectraframe" in arguments and "serve" in arguments


def is_browser(arguments: list[str]) -> bool:
    # Chromium rewrites its child processes' command lines into one string ("/usr/lib/chromium/chromium
    # --type=renderer ..."), so the program is the first word of the first argument.
    return Path(arguments[0].split(" ")[0]).name.startswith("chrom")


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


def wait_for(condition, timeout: float, what: str, every_s: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise SystemExit(f"timed out waiting for {what}")


def time_cli(clip: Path, folder: Path) -> tuple[float, float, float, float]:
    """(wall seconds and CPU seconds of `spectraframe upscale` in a subprocess, start-up included; the seconds
    it reports, which like the page's cover the upscaling alone; the machine's busy CPU seconds meanwhile)."""
    import resource

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    cpu_before, busy_before, started = children_cpu(), machine_busy_seconds(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "spectraframe", "upscale", str(clip), "-o",
                           str(folder / "cli.mp4"), "--no-progress", "--overwrite"], check=True, capture_output=True,
                          text=True)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu_before
    reported = float(re.search(r"frames in ([0-9.]+)s", done.stdout).group(1))
    return wall, cpu, reported, machine_busy_seconds() - busy_before


@contextlib.contextmanager
def served(folder: Path):
    """A `spectraframe serve` subprocess on a free port; yields its URL once it answers."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "spectraframe", "serve", "--port", str(port),
                               "--workdir", str(folder / "work")], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return True
        except OSError:
            return False

    try:
        wait_for(up, 300, "the server")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def reported_seconds(status: str) -> float:
    return float(re.search(r"in ([0-9.]+) s", status).group(1))


def time_client(url: str, clip: Path) -> tuple[float, float, float, float]:
    """The same job sent by Gradio's Python client, no browser: (wall seconds of the call, seconds the page
    reports, CPU seconds of the server, the machine's busy CPU seconds meanwhile)."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    server_cpu, busy, started = process_cpu_seconds(is_server), machine_busy_seconds(), time.perf_counter()
    client.predict(api_name="/admit")  # the Upscale button's first step: a place in the line
    status = client.predict(upload=handle_file(str(clip)), use_sample=False, model=DEFAULT_NAME, size=NETWORK_SIZE,
                            precision="auto", crf=18, api_name="/start")[0]
    return (time.perf_counter() - started, reported_seconds(status), process_cpu_seconds(is_server) - server_cpu,
            machine_busy_seconds() - busy)


def time_page(url: str, clip: Path, folder: Path) -> tuple[float, float, float, float, float]:
    """(wall seconds from the click to "Done", seconds the page reports, CPU seconds of the server and of the
    browser from the click to "Done", the machine's busy CPU seconds meanwhile).

    While the job runs the page is polled once a second: Selenium's round trips (this process, chromedriver and
    the page) cost CPU on the cores the server uses, and a faster poll slowed the job measurably.
    """
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={folder / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)
    try:
        driver.get(url)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"), 60, "the upload")[0] \
            .send_keys(str(clip))
        wait_for(lambda: clip.stem in driver.find_element(By.ID, "upload").text, 60, "the upload to show")
        server_cpu, browser_cpu = process_cpu_seconds(is_server), process_cpu_seconds(is_browser)
        busy, started = machine_busy_seconds(), time.perf_counter()
        driver.find_element(By.ID, "run").click()
        status = wait_for(lambda: "Done" in (text := driver.find_element(By.ID, "status").text) and text, 900,
                          "the result", every_s=1.0)
        wall = time.perf_counter() - started
        server_cpu = process_cpu_seconds(is_server) - server_cpu
        browser_cpu = process_cpu_seconds(is_browser) - browser_cpu
        return wall, reported_seconds(status), server_cpu, browser_cpu, machine_busy_seconds() - busy
    finally:
        driver.quit()


def spread(values: list[float]) -> dict:
    """Median and range of the repeats: the range is the run-to-run noise the two ways are compared against."""
    ordered = sorted(values)
    return {"seconds": statistics.median(ordered), "min_s": ordered[0], "max_s": ordered[-1]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs of each way, alternated")
    args = parser.parse_args(argv)
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        raise SystemExit("needs Debian's chromium and chromium-driver")
    cli_runs, client_runs, page_runs = [], [], []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        clip = cut_sample(folder / "carphone100.mp4", FRAMES)
        load = os.getloadavg()[0]
        for repeat in range(args.repeats):
            cli_runs.append(time_cli(clip, folder))
            with served(folder / f"server{repeat}") as url:
                client_runs.append(time_client(url, clip))
                page_runs.append(time_page(url, clip, folder / f"browser{repeat}"))

    def row(way: str, values: list[float], cpu: list[float] | None = None, busy: list[float] | None = None) -> dict:
        timing = spread(values)
        return {"way": way, **timing, "frames_per_s": FRAMES / timing["seconds"],
                "cpu_s": statistics.median(cpu) if cpu else "",
                "machine_cpu_s": statistics.median(busy) if busy else ""}

    def column(runs: list[tuple], index: int) -> list[float]:
        return [run[index] for run in runs]

    rows = [row("CLI, start-up included", column(cli_runs, 0), column(cli_runs, 1), column(cli_runs, 3)),
            row("CLI, as it reports (upscaling alone)", column(cli_runs, 2)),
            row("server without a browser (Gradio's Python client): call", column(client_runs, 0),
                column(client_runs, 2), column(client_runs, 3)),
            row("server without a browser, as it reports", column(client_runs, 1)),
            row("page, click to result: server", column(page_runs, 0), column(page_runs, 2), column(page_runs, 4)),
            row("page, click to result: browser", column(page_runs, 0), column(page_runs, 3)),
            row("page, as it reports (upscaling alone)", column(page_runs, 1))]
    notes = (f"{FRAMES} frames of the carphone sample, 176x144 -> 704x576, default weights and options; "
             f"{args.repeats} runs of each way, alternated (seconds: the median, min_s/max_s: the range); "
             f"load average {load:.1f} at the start. 'As it reports' is the time both print for the same "
             "pipeline call (decode, flow, network, encode), the like-for-like pair; the CLI's wall time adds its "
             "start-up (torch import, model load), and the page's server was started before the click. cpu_s: "
             "user + system CPU seconds of the process(es), median; machine_cpu_s: what every process of the "
             "machine used meanwhile (/proc/stat), median. The browser runs on the same cores as the "
             "server, as it does for a person using the page on their own computer. The browser-free row sends "
             "the same job to the same server through gradio_client, to tell the server's share from the "
             "browser's.")
    write_result("serve_vs_cli", rows, ["way", "seconds", "min_s", "max_s", "frames_per_s", "cpu_s", "machine_cpu_s"],
                 notes)


if __name__ == "__main__":
    main(sys.argv[1:])
