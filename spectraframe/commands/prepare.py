"""`spectraframe prepare`: make a Vimeo-90K-style training set from your own videos."""

from __future__ import annotations

import argparse

from spectraframe.cli_numbers import integer


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="cut videos into 7-frame clips (no scene cuts, no static or duplicate frames) with split lists",
        description="Decode videos, drop duplicate frames, split at scene cuts, write N-frame clips as "
        "DIR/<video>/<NNNN>/im1..imN.png and train/val/test lists split by source video.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of videos")
    p.add_argument("-o", "--out", required=True, help="output folder (new or empty)")
    p.add_argument("--split", default="80/10/10", help="train/val/test shares of the videos (default 80/10/10)")
    p.add_argument("--clip-length", type=integer(2), default=7, help="frames per clip (default 7)")
    p.add_argument("--short-side", type=integer(16), help="downscale so the short side has this many pixels (e.g. 256)")
    p.add_argument("--max-clips", type=integer(0), default=0,
                   help="at most this many clips per video, spread out (0: all)")
    p.add_argument("--gap", type=integer(0), default=0, help="frames skipped between consecutive clips (default 0)")
    p.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="seed of the split (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spectraframe.data.prepare import PrepareOptions, parse_split, prepare_dataset, written_lists

    options = PrepareOptions(
        clip_length=args.clip_length,
        short_side=args.short_side,
        max_clips_per_video=args.max_clips,
        gap=args.gap,
        split=parse_split(args.split),
        seed=args.seed,
    )
    plans = prepare_dataset(args.videos, args.out, options)
    for plan in plans:
        if plan.error:
            print(f"{plan.name}: skipped, cannot be read ({plan.error})")
            continue
        print(f"{plan.name}: {plan.frames} frames, {plan.duplicates} duplicates, {plan.cuts} cuts, "
              f"{plan.static_clips} static clips skipped -> {len(plan.clips)} clips ({plan.split or 'unused'})")
    total = sum(len(p.clips) for p in plans)
    # Only the lists that exist: a split that got no video has none.
    print(f"{total} clips written to {args.out} (lists: {', '.join(written_lists(plans))}; details: prepare.json)")
    skipped = [p.path for p in plans if p.error]
    if skipped:
        print(f"{len(skipped)} of {len(plans)} videos skipped because they cannot be read: {', '.join(skipped)}")
    return 0
