"""`spectraframe serve`: the local web page (needs the extra: pip install 'spectraframe[web]')."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="a local web page for upscaling (pip install 'spectraframe[web]')",
                              description="Serve a page to upscale videos from a browser, with a before/after "
                                          "comparison. Local by default: 127.0.0.1, no public link.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--weights", help="an extra generator checkpoint the page offers as `custom` (the page itself "
                                     "only chooses among the shipped weights by name)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p.add_argument("--workdir", help="folder for uploads and results (default: a temporary folder, removed at exit)")
    p.add_argument("--max-upload-mb", type=float, default=500, help="largest upload in MB (default 500)")
    p.add_argument("--max-frames", type=int, default=3000, help="most frames a clip may have (default 3000)")
    p.add_argument("--max-pixels", type=int, default=1280 * 720,
                   help="most pixels an input frame may have (default 921600, 1280x720)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import os
    from pathlib import Path

    from spectraframe.errors import SpectraFrameError
    from spectraframe.paths import require_file
    from spectraframe.web.jobs import JobRunner, Limits, Workspace

    if args.max_upload_mb <= 0 or args.max_frames < 1 or args.max_pixels < 1:
        raise SpectraFrameError("--max-upload-mb, --max-frames and --max-pixels must be positive")
    custom = require_file(Path(args.weights), "weights file").resolve() if args.weights else None
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 1024**2), max_frames=args.max_frames,
                    max_input_pixels=args.max_pixels)
    workspace = Workspace(Path(args.workdir) if args.workdir else None)
    # Gradio reads these when imported: its uploads go into our folder, and it phones nowhere.
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.uploads)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own requests to itself at start
    try:
        try:
            from spectraframe.web.app import PAGE_HEAD, THEME, build_app
        except ImportError as exc:
            raise SpectraFrameError(f"the web page needs the extra: pip install 'spectraframe[web]' ({exc})") from exc
        from spectraframe.demo import sample_clip_path

        try:
            sample = sample_clip_path()
        except SpectraFrameError:
            sample = None  # the page then offers uploads only
        page = build_app(JobRunner(workspace, limits), custom_weights=custom, sample_clip=sample, device=args.device)
        page.queue(default_concurrency_limit=4)
        print(f"SpectraFrame page: http://{args.host}:{args.port}  (working folder {workspace.root}; Ctrl-C stops)",
              flush=True)
        page.launch(server_name=args.host, server_port=args.port, share=False, max_file_size=limits.max_upload_bytes,
                    allowed_paths=[str(workspace.jobs)], footer_links=[], run_history=False, ssr_mode=False,
                    mcp_server=False, show_error=True, quiet=True, theme=THEME, head=PAGE_HEAD)
    finally:
        workspace.close()
    return 0
