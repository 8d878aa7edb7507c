"""SpectraFrame: video super-resolution with Recurrent Back-Projection Networks.

Data path: ``io`` (video/frames) -> ``degradation`` -> ``flow`` -> ``archs`` (networks)
-> ``models`` (training) or ``upscale`` (inference) -> ``metrics``.
"""

from spectraframe.errors import SpectraFrameError

__version__ = "0.1.0"
__all__ = ["SpectraFrameError", "__version__"]
