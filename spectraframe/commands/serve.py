"""`spectraframe serve`: the local web page (needs the extra: pip install 'spectraframe[web]')."""

from __future__ import annotations

import argparse

from spectraframe.cli_numbers import integer, real


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="a local web page for upscaling (pip install 'spectraframe[web]')",
                              description="Serve a page to upscale videos from a browser, with a before/after "
                                          "comparison. Local by default: 127.0.0.1, no public link. On a network, "
                                          "give logins (--auth); see docs/serve.md for what is kept and how long.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0 opens it to the "
                        "network, which needs --auth or --no-auth)")
    p.add_argument("--port", type=integer(1, 65535), default=7860, help="port (default 7860)")
    p.add_argument("--auth", action="append", metavar="USER:PASSWORD",
                   help="a login the page asks for (repeat for several people); a file is safer: --auth-file")
    p.add_argument("--auth-file", metavar="FILE", help="logins, one USER:PASSWORD a line (# starts a comment)")
    p.add_argument("--no-auth", action="store_true",
                   help="with a --host other than this computer's: serve anyone who reaches the port, without logins")
    p.add_argument("--weights", help="an extra generator checkpoint the page offers as `custom` (the page itself "
                                     "only chooses among the shipped weights by name)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p.add_argument("--workdir", help="folder for uploads and results (default: a temporary folder, removed at exit)")
    p.add_argument("--max-upload-mb", type=real(0, 10**6, low_excluded=True), default=500,
                   help="largest upload in MB (default 500)")
    p.add_argument("--max-frames", type=integer(1), default=3000, help="most frames a clip may have (default 3000)")
    p.add_argument("--max-pixels", type=integer(1), default=1280 * 720,
                   help="most pixels an input frame may have (default 921600, 1280x720)")
    p.add_argument("--max-jobs-per-client", type=integer(1, 100), default=1,
                   help="clips one person (login, or browser without logins) may have in line or running (default 1)")
    p.set_defaults(func=run)


def check_access(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The logins, after refusing a page opened to the network without any (unless --no-auth) and a port the
    server could not listen on: all before anything is printed or made."""
    import logging

    from spectraframe.errors import SpectraFrameError
    from spectraframe.web.access import check_port, is_loopback, read_logins

    logins = read_logins(args.auth, args.auth_file)
    if logins and args.no_auth:
        raise SpectraFrameError("--no-auth and --auth/--auth-file contradict each other: give one")
    if not logins and not is_loopback(args.host):
        if not args.no_auth:
            raise SpectraFrameError(f"--host {args.host} opens the page to the network, where anyone who reaches the "
                                    "port could use it: give logins with --auth USER:PASSWORD or --auth-file FILE, or "
                                    "--no-auth to serve everyone")
        logging.getLogger("spectraframe.serve").warning(
            "--no-auth: anyone who reaches %s:%s can upscale on this computer", args.host, args.port)
    check_port(args.host, args.port)
    return logins


def run(args: argparse.Namespace) -> int:
    import logging
    import os
    from pathlib import Path

    from spectraframe.paths import require_file
    from spectraframe.web.jobs import JobRunner, Limits, Workspace

    logins = check_access(args)
    custom = require_file(Path(args.weights), "weights file").resolve() if args.weights else None
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 1024**2), max_frames=args.max_frames,
                    max_input_pixels=args.max_pixels)
    workspace = Workspace(Path(args.workdir) if args.workdir else None)
    # Gradio reads these when imported: its uploads go into our folder, and it phones nowhere.
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.uploads)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own requests to itself at start
    runner = JobRunner(workspace, limits, args.max_jobs_per_client)
    try:
        serve_until_stopped(args, runner, custom, logins)
    finally:
        if not runner.shutdown():
            logging.getLogger("spectraframe.serve").warning("the running job did not stop in time")
        workspace.close()
    return 0


def serve_until_stopped(args: argparse.Namespace, runner, custom, logins: list[tuple[str, str]]) -> None:
    """Launch the page and wait for Ctrl-C or SIGTERM (how service managers and `docker stop` stop a server)."""
    import signal
    import threading

    from starlette.middleware import Middleware

    from spectraframe.errors import SpectraFrameError

    try:
        from spectraframe.web.app import PAGE_HEAD, THEME, build_app
    except ImportError as exc:
        raise SpectraFrameError(f"the web page needs the extra: pip install 'spectraframe[web]' ({exc})") from exc
    from spectraframe.demo import sample_clip_path
    from spectraframe.web.access import ClientFiles, FileGrants

    try:
        sample = sample_clip_path()
    except SpectraFrameError:
        sample = None  # the page then offers uploads only
    workspace, stop = runner.workspace, threading.Event()
    grants = FileGrants(workspace.root)
    page = build_app(runner, custom_weights=custom, sample_clip=sample, device=args.device, on_leave=grants.forget)
    page.queue(default_concurrency_limit=4)
    try:
        page.launch(server_name=args.host, server_port=args.port, share=False, auth=logins or None,
                    max_file_size=runner.limits.max_upload_bytes, allowed_paths=[str(workspace.jobs)],
                    footer_links=[], run_history=False, ssr_mode=False, mcp_server=False, show_error=True, quiet=True,
                    theme=THEME, head=PAGE_HEAD, prevent_thread_lock=True,
                    app_kwargs={"middleware": [Middleware(ClientFiles, grants=grants)]})
    except OSError as exc:  # the port taken in the moment since `check_port`
        raise SpectraFrameError(f"cannot listen on {args.host}:{args.port} ({exc}); choose another --port") from exc
    for signum in (signal.SIGINT, signal.SIGTERM):  # after the launch: Gradio sets handlers of its own
        signal.signal(signum, lambda *_: stop.set())
    print(f"SpectraFrame page: http://{args.host}:{args.port}  (working folder {workspace.root}; Ctrl-C stops)",
          flush=True)
    try:
        while not stop.wait(0.5):
            pass
        print("stopping: cancelling the running job and removing the working folder's uploads and results",
              flush=True)
    finally:
        page.close(verbose=False)
