"""`spectraframe serve` as a person uses it: a real headless Chromium drives the page of a real server.

Needs Debian's chromium and chromium-driver (`.ci/run` installs them); without them the module is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from helpers.media import moving_frames, read_back, write_video

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
                allow_module_level=True)
pytest.importorskip("gradio", reason="the web page needs the extra: pip install -e '.[web]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium (the test extra)")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

MAX_UPLOAD_MB = 0.1
STARTUP_S = 180  # importing torch and Gradio on two busy cores


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_weights):
    root = tmp_path_factory.mktemp("serve")
    home, cwd, work = root / "home", root / "cwd", root / "work"
    home.mkdir()
    cwd.mkdir()
    port = free_port()
    env = {**os.environ, "HOME": str(home), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "spectraframe", "serve", "--port", str(port), "--weights", str(tiny_weights),
         "--workdir", str(work), "--max-upload-mb", str(MAX_UPLOAD_MB), "--max-frames", "400"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"spectraframe serve did not start:\n{process.communicate()[0]}")
            time.sleep(0.5)
    yield {"url": url, "home": home, "cwd": cwd, "work": work, "root": root}
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1100", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def wait_for(condition, timeout: float = 120, what: str = "the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def open_page(browser, server):
    browser.get(server["url"])
    return wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"), what="the upload")[0]


def toasts(browser) -> str:
    return " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid=toast-body]"))


def test_upload_run_download_and_compare(browser, server, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", moving_frames(6, width=32, height=24))
    open_page(browser, server).send_keys(str(clip))
    wait_for(lambda: "clip" in browser.find_element(By.ID, "upload").text, what="the upload to show")
    choose(browser, "size", "30p")
    browser.find_element(By.ID, "run").click()
    status = wait_for(lambda: "Done" in (text := browser.find_element(By.ID, "status").text) and text,
                      what="the result")
    assert "6 frames, 40x30" in status

    # The player's video, fetched as the browser would (with its cookie): 40x30 (30p of a 32x24 clip with a x2
    # model), 6 frames. Without the cookie, the same URL gives nothing: the result is this browser's alone.
    source = browser.find_element(By.CSS_SELECTOR, "#result-video video").get_attribute("src")
    cookie = browser.get_cookie("spectraframe-client")
    request = urllib.request.Request(source, headers={"Cookie": f"{cookie['name']}={cookie['value']}"})
    (tmp_path / "played.mp4").write_bytes(urllib.request.urlopen(request, timeout=30).read())
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(source, timeout=30)
    frames, _, _ = read_back(tmp_path / "played.mp4")
    assert len(frames) == 6 and frames[0].shape == (30, 40, 3)
    assert browser.find_element(By.ID, "download").is_displayed()
    # The file (played and downloaded) is named after the upload and the size (the server's own weights: no model).
    assert source.endswith("/clip_30p.mp4")

    # Dragging the line of the before/after slider uncovers more of one side.
    handle = browser.find_element(By.CSS_SELECTOR, "#compare [data-testid=slider]")
    top = browser.find_element(By.CSS_SELECTOR, "#compare img.fixed")
    before = top.get_attribute("style")
    ActionChains(browser).drag_and_drop_by_offset(handle, -120, 0).perform()
    wait_for(lambda: top.get_attribute("style") != before, timeout=10, what="the slider to move")

    # Another frame for the comparison: the pictures are made again.
    detail = browser.find_element(By.CSS_SELECTOR, "#detail img").get_attribute("src")
    track = browser.find_element(By.CSS_SELECTOR, "#frame input[type=range]")
    ActionChains(browser).move_to_element_with_offset(track, -track.size["width"] // 2 + 1, 0).click().perform()
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#detail img").get_attribute("src") != detail,
             timeout=60, what="the comparison of another frame")

    # A frame number typed in the box acts on Enter, as on Tab.
    detail = browser.find_element(By.CSS_SELECTOR, "#detail img").get_attribute("src")
    number = browser.find_element(By.CSS_SELECTOR, "#frame input[type=number]")
    number.send_keys(Keys.CONTROL, "a")
    number.send_keys("4", Keys.ENTER)
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#detail img").get_attribute("src") != detail,
             timeout=30, what="the comparison of the frame typed")


def choose(browser, field: str, text: str) -> None:
    box = browser.find_element(By.CSS_SELECTOR, f"#{field} input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text, Keys.ENTER)


def shown(browser, element_id: str) -> bool:
    """Whether the component is on the page and visible (Gradio leaves a hidden one out of the page)."""
    try:
        return any(e.is_displayed() for e in browser.find_elements(By.ID, element_id))
    except StaleElementReferenceException:  # removed from the page between finding and asking
        return False


def test_a_shipped_model_by_name_with_a_strength(browser, server, tmp_path):
    clip = write_video(tmp_path / "small.mp4", moving_frames(3, width=24, height=16))
    open_page(browser, server).send_keys(str(clip))
    assert not shown(browser, "strength")  # the custom weights the server was given blend with nothing
    choose(browser, "model", "perceptual")
    wait_for(lambda: shown(browser, "strength"), timeout=30, what="the strength slider")
    assert "texture" in browser.find_element(By.ID, "model-help").text
    number = browser.find_element(By.CSS_SELECTOR, "#strength input[type=number]")
    number.send_keys(Keys.CONTROL, "a")
    number.send_keys("0.5", Keys.TAB)
    wait_for(lambda: "small" in browser.find_element(By.ID, "upload").text, what="the upload to show")
    browser.find_element(By.ID, "run").click()
    status = wait_for(lambda: "Done" in (text := browser.find_element(By.ID, "status").text) and text,
                      what="the result")
    assert "3 frames, 96x64" in status and "model perceptual at strength 0.5" in status
    choose(browser, "model", "default")
    wait_for(lambda: not shown(browser, "strength"), timeout=30, what="the slider to hide")
    assert "clean or lightly compressed" in browser.find_element(By.ID, "model-help").text


def test_progress_then_cancel_keeps_nothing(browser, server, tmp_path):
    clip = write_video(tmp_path / "long.mp4", moving_frames(150, width=32, height=24))
    assert clip.stat().st_size < MAX_UPLOAD_MB * 1024**2
    open_page(browser, server).send_keys(str(clip))
    wait_for(lambda: "long" in browser.find_element(By.ID, "upload").text, what="the upload to show")
    browser.find_element(By.ID, "run").click()
    wait_for(lambda: "frames/s" in browser.find_element(By.TAG_NAME, "body").text and "ETA" in
             browser.find_element(By.TAG_NAME, "body").text, what="the progress line")
    browser.find_element(By.ID, "cancel").click()
    wait_for(lambda: "Cancelled" in browser.find_element(By.ID, "status").text, what="the cancel")
    jobs = server["work"] / "jobs"
    # The runner removes the cancelled job's folder: only finished results are left.
    wait_for(lambda: all(any(folder.glob("*.mp4")) for folder in jobs.iterdir()), timeout=60,
             what="the cancelled job to be removed")


def test_closing_the_page_cancels_its_job_and_removes_its_folder(browser, server, tmp_path):
    # A job whose page closed used to run to the end, holding the cores, and its result stayed on disk.
    clip = write_video(tmp_path / "left.mp4", moving_frames(150, width=32, height=24))
    open_page(browser, server).send_keys(str(clip))
    wait_for(lambda: "left" in browser.find_element(By.ID, "upload").text, what="the upload to show")
    browser.find_element(By.ID, "run").click()
    wait_for(lambda: "ETA" in browser.find_element(By.TAG_NAME, "body").text, what="the progress line")
    jobs = server["work"] / "jobs"
    running = [folder for folder in jobs.iterdir() if not (folder / "upscaled.mp4").exists()]
    assert len(running) == 1
    browser.get("about:blank")
    wait_for(lambda: not running[0].exists(), timeout=60, what="the closed page's job to be removed")


def test_a_too_large_upload_is_refused_with_a_message(browser, server, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(int(MAX_UPLOAD_MB * 1024**2) + 10_000))
    open_page(browser, server).send_keys(str(big))
    wait_for(lambda: "exceed the maximum allowed size" in toasts(browser), timeout=30, what="the size message")


def test_nothing_is_written_outside_the_working_folder(server):
    assert list(server["home"].iterdir()) == []
    assert list(server["cwd"].iterdir()) == []
