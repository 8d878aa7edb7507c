"""Optical flow between LR frames: our coarse-to-fine variational solver, OpenCV backends, a disk cache.

Convention: a flow (N, 2, H, W) holds u (channel 0, horizontal) and v (channel 1, vertical) in pixels
with ``neighbour(x + u, y + v) ~ target(x, y)``, i.e. ``warp(neighbour, flow) ~ target``.

The names below load on first use (PEP 562), so `spectraframe.flow.names` stays free of torch for the CLI.
"""

from __future__ import annotations

import importlib

from spectraframe.flow.names import DEFAULT_FLOW_METHOD, FLOW_METHODS

# name -> the module that defines it
_LAZY = {
    "METHODS": "api", "estimate_flow": "api", "warp": "api", "warp_error": "api",
    "FlowCache": "cache",
    "CoarseToFineParams": "coarse2fine", "coarse_to_fine_flow": "coarse2fine",
    "DIS_PRESETS": "opencv_flow", "DISParams": "opencv_flow", "FarnebackParams": "opencv_flow",
    "flow_to_color": "visualize", "read_flo": "visualize", "read_flow": "visualize", "write_flo": "visualize",
    "write_flow": "visualize",
}

__all__ = ["DEFAULT_FLOW_METHOD", "FLOW_METHODS", *sorted(_LAZY)]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
