"""`spectraframe flow`: the optical flow from one frame to another, as a picture and optionally as data."""

from __future__ import annotations

import argparse

from spectraframe.cli_numbers import real


def register(subparsers: argparse._SubParsersAction) -> None:
    from spectraframe.flow.names import DEFAULT_FLOW_METHOD, FLOW_METHODS

    p = subparsers.add_parser(
        "flow",
        help="optical flow from frame A to frame B, written as a colour-wheel image",
        description="Estimate the flow (u, v) with B(x + u, y + v) ~ A(x, y), write it in the Middlebury "
        "colour coding (hue = direction, saturation = speed) and print the warp error: the mean absolute "
        "RGB difference (0-255) between A and B warped back by the flow, 4-pixel border excluded.",
    )
    p.add_argument("target", help="frame A (the target frame)")
    p.add_argument("neighbour", help="frame B (the neighbour frame), same size as A")
    p.add_argument("-o", "--output", required=True, help="colour-wheel image to write (.png)")
    p.add_argument("--method", default=DEFAULT_FLOW_METHOD, choices=FLOW_METHODS,
                   help=f"flow method (default: {DEFAULT_FLOW_METHOD})")
    p.add_argument("--preset", default="medium", choices=("ultrafast", "fast", "medium"),
                   help="DIS preset, with --method dis (default: medium)")
    p.add_argument("--flo", help="also write the flow as a Middlebury .flo file")
    p.add_argument("--npy", help="also write the flow as a (2, H, W) float32 .npy file")
    p.add_argument("--max-magnitude", type=real(0, low_excluded=True),
                   help="flow magnitude (pixels) shown fully saturated (default: the largest in the flow)")
    p.add_argument("--device", default="cpu", help="torch device for coarse2fine, e.g. cuda (default: cpu)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def check_flow_outputs(args: argparse.Namespace) -> None:
    """Every output's name and place, before any flow is computed or anything written."""
    from pathlib import Path

    from spectraframe.errors import SpectraFrameError
    from spectraframe.io.images import IMAGE_SUFFIXES
    from spectraframe.paths import Output, check_outputs

    wanted = [("-o", args.output, IMAGE_SUFFIXES), ("--flo", args.flo, (".flo",)), ("--npy", args.npy, (".npy",))]
    outputs = []
    for option, name, suffixes in wanted:
        if name is None:
            continue
        path = Path(name)
        if path.suffix.lower() not in suffixes:
            raise SpectraFrameError(f"{option} {name}: the file name must end in {' or '.join(suffixes)}")
        outputs.append(Output(path, "file", option))
    check_outputs(outputs, [args.target, args.neighbour], overwrite=args.overwrite)


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from spectraframe.errors import SpectraFrameError
    from spectraframe.flow import estimate_flow, flow_to_color, warp_error, write_flow
    from spectraframe.io.images import read_frames, write_image

    check_flow_outputs(args)
    target_image, neighbour_image = read_frames([args.target, args.neighbour])
    try:
        device = torch.device(args.device)
    except RuntimeError as exc:
        raise SpectraFrameError(f"unknown device {args.device!r}: {exc}") from exc
    target = torch.from_numpy(target_image.copy()).permute(2, 0, 1).to(device)
    neighbour = torch.from_numpy(neighbour_image.copy()).permute(2, 0, 1).unsqueeze(0).to(device)
    params = {"preset": args.preset} if args.method == "dis" else {}
    start = time.perf_counter()
    flow = estimate_flow(target, neighbour, method=args.method, **params)
    seconds = time.perf_counter() - start

    write_image(args.output, flow_to_color(flow[0], max_magnitude=args.max_magnitude))
    for path in (args.flo, args.npy):
        if path:
            write_flow(path, flow[0])
    error = warp_error(target, neighbour, flow)
    still = warp_error(target, neighbour, torch.zeros_like(flow))
    magnitude = flow[0].norm(dim=0)
    height, width = target_image.shape[:2]
    print(f"{args.method}: {width}x{height} in {seconds * 1000:.0f} ms; mean |flow| {magnitude.mean():.2f} px, "
          f"max {magnitude.max():.2f} px")
    print(f"warp error: {error:.3f} (without motion compensation: {still:.3f}), 0-255 scale")
    print(f"wrote {args.output}" + "".join(f", {p}" for p in (args.flo, args.npy) if p))
    return 0
