"""`spectraframe serve` on a network: its start (host, port, logins checked before the address is printed), its
logins, each browser's own files, each person's share of the line, and its end on SIGTERM (spectraframe.web.access
and the serve command). A real server in a subprocess, driven by two logged-in Gradio clients."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest
from helpers.media import moving_frames, write_video

from spectraframe.cli import main as cli_main
from spectraframe.errors import SpectraFrameError
from spectraframe.web.access import check_port, is_loopback, read_logins

STARTUP_S = 180  # importing torch and Gradio on two busy cores


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_hosts_ports_and_logins_are_checked_up_front(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    logins = tmp_path / "logins"
    logins.write_text("# who may use the page\nana:pw:with:colons\n\n bob : pw2\n")
    assert read_logins(["cy:pw3"], str(logins)) == [("cy", "pw3"), ("ana", "pw:with:colons"), ("bob", " pw2")]
    logins.write_text("ana\n")
    with pytest.raises(SpectraFrameError, match="line 1 of .* must be USER:PASSWORD"):
        read_logins(None, str(logins))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SpectraFrameError, match=r"cannot listen on 127.0.0.1:\d+ \(Address already in use\)"):
            check_port("127.0.0.1", taken.getsockname()[1])


@pytest.mark.parametrize(("arguments", "message"), [
    (["--host", "0.0.0.0"], "--host 0.0.0.0 opens the page to the network"),  # served anyone before
    (["--host", "0.0.0.0", "--no-auth", "--auth", "a:b"], "contradict each other"),
    (["--auth", "ana"], "--auth must be USER:PASSWORD"),
    (["--host", "no-such-host.invalid", "--no-auth"], "--host no-such-host.invalid is not an address"),
    (["--port", "{taken}"], "cannot listen on 127.0.0.1:{taken}"),  # a traceback after the address, before
])
def test_a_server_that_cannot_start_says_why_before_printing_an_address(tmp_path, capsys, arguments, message):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        arguments = [a.format(taken=port) for a in arguments]
        status = cli_main(["serve", "--workdir", str(tmp_path / "work"), *arguments])
    out, err = capsys.readouterr()
    assert status == 2 and message.format(taken=port) in err and "Traceback" not in err
    assert "http://" not in out and not (tmp_path / "work").exists()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_weights):
    root = tmp_path_factory.mktemp("serve_access")
    logins, work = root / "logins", root / "work"
    logins.write_text("ana:pw1\nbob:pw2\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "spectraframe", "serve", "--port", str(port), "--weights", str(tiny_weights),
         "--workdir", str(work), "--auth-file", str(logins), "--max-jobs-per-client", "1"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + STARTUP_S
    while process.poll() is None and time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"spectraframe serve did not start:\n{process.communicate()[0]}")
    yield {"url": f"http://127.0.0.1:{port}/", "work": work, "root": root, "process": process}
    if process.poll() is None:
        process.kill()
        process.wait()


def client(server, user: str, password: str):
    gradio_client = pytest.importorskip("gradio_client")
    return gradio_client.Client(server["url"], auth=(user, password), download_files=False, verbose=False)


def upscale(who, clip):
    from gradio_client import handle_file

    who.predict(api_name="/admit")
    return who.predict(api_name="/start", upload=handle_file(str(clip)), use_sample=False, model="custom",
                       strength=1, size="network scale", precision="fp32", crf=18)


def test_logins_and_each_browser_gets_only_its_own_files(server):
    import httpx

    assert httpx.get(server["url"] + "config").status_code == 401  # Gradio's login, before anything
    with pytest.raises(Exception, match="(?i)login|credentials|401"):
        client(server, "ana", "wrong")
    ana, bob = client(server, "ana", "pw1"), client(server, "bob", "pw2")
    clip = write_video(server["root"] / "clip.mp4", moving_frames(6))
    status, video, *_ = upscale(ana, clip)
    assert status.startswith("Done: 6 frames, 64x48")
    upload = next(server["work"].glob("uploads/*/clip.mp4"))
    urls = [video["url"], f"{server['url']}gradio_api/file={upload}"]
    for url in urls:
        assert httpx.get(url, cookies=ana.cookies).status_code == 200  # the browser that made them
        # Anyone else with the URL, logged in or not, gets nothing.
        assert httpx.get(url, cookies=bob.cookies).status_code == 404
        assert httpx.get(url).status_code == 404


def test_one_person_has_one_clip_in_line_at_a_time(server):
    ana, ana_again, bob = (client(server, *login) for login in (("ana", "pw1"), ("ana", "pw1"), ("bob", "pw2")))
    ana.predict(api_name="/admit")
    for refused, message in ((ana, "this page already has a clip in line"), (ana_again, "you already have 1 clip")):
        with pytest.raises(Exception, match=message):
            refused.predict(api_name="/admit")
    bob.predict(api_name="/admit")  # someone else is not held up by ana's share
    with pytest.raises(Exception, match="start a job with the Upscale button"):  # the limit cannot be skipped
        client(server, "bob", "pw2").predict(api_name="/start", upload=None, use_sample=False, model="custom",
                                             strength=1, size="x2", precision="fp32", crf=18)
    ana.predict(api_name="/cancel")
    ana_again.predict(api_name="/admit")


def test_sigterm_stops_the_server_and_removes_uploads_and_results(server):
    # Stopped by SIGTERM (service managers, `docker stop`), the server used to leave the users' files behind.
    process = server["process"]
    assert any(server["work"].glob("uploads/*"))
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "stopping: cancelling the running job" in output and "Traceback" not in output
    assert sorted(p.name for p in server["work"].iterdir()) == [".spectraframe-output"]


def test_files_go_to_the_browser_they_were_sent_to_and_a_closed_pages_copies_go(tmp_path):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from spectraframe.web.access import ClientFiles, FileGrants

    mine, shared = tmp_path / "uploads" / "h1" / "result.mp4", tmp_path / "uploads" / "h2" / "pic.png"
    for path in (mine, shared):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"data")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("Gradio's own rules decide about files elsewhere")

    async def data(request):  # as the queue's stream names a job's outputs, with the page's session in the query
        names = [str(mine), str(shared)] if request.query_params["session_hash"] == "page1" else [str(shared)]
        return JSONResponse({"output": {"data": [{"path": name} for name in names]}})

    async def file(request):
        return FileResponse(request.path_params["path"])

    grants = FileGrants(tmp_path)
    app = Starlette(routes=[Route("/queue/data", data), Route("/gradio_api/file={path:path}", file)],
                    middleware=[Middleware(ClientFiles, grants=grants)])
    ana, bob = TestClient(app), TestClient(app)
    ana.get("/queue/data", params={"session_hash": "page1"})
    bob.get("/queue/data", params={"session_hash": "page2"})
    assert ana.get(f"/gradio_api/file={mine}").content == b"data"
    assert bob.get(f"/gradio_api/file={mine}").status_code == 404  # ana's URL is no use to bob
    assert bob.get(f"/gradio_api/file={shared}").status_code == 200  # his own response named this one
    assert TestClient(app).get(f"/gradio_api/file={outside}").status_code == 200
    grants.forget("page1")  # ana's page closed: her result goes, the picture bob's page was sent stays
    assert not mine.exists() and not mine.parent.exists() and shared.is_file()
    outside.unlink()
