"""Optical flow between LR frames: our coarse-to-fine variational solver, OpenCV backends, a disk cache.

Convention: a flow (N, 2, H, W) holds u (channel 0, horizontal) and v (channel 1, vertical) in pixels
with ``neighbour(x + u, y + v) ~ target(x, y)``, i.e. ``warp(neighbour, flow) ~ target``.
"""

from spectraframe.flow.api import DEFAULT_FLOW_METHOD, METHODS, estimate_flow, warp, warp_error
from spectraframe.flow.cache import FlowCache
from spectraframe.flow.coarse2fine import CoarseToFineParams, coarse_to_fine_flow
from spectraframe.flow.opencv_flow import DIS_PRESETS, DISParams, FarnebackParams
from spectraframe.flow.visualize import flow_to_color, read_flo, read_flow, write_flo, write_flow

__all__ = [
    "DEFAULT_FLOW_METHOD",
    "DIS_PRESETS",
    "METHODS",
    "CoarseToFineParams",
    "DISParams",
    "FarnebackParams",
    "FlowCache",
    "coarse_to_fine_flow",
    "estimate_flow",
    "flow_to_color",
    "read_flo",
    "read_flow",
    "warp",
    "warp_error",
    "write_flo",
    "write_flow",
]
