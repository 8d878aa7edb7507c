"""The flow methods by name, without loading them: what the CLI offers before torch is imported."""

# What RBPN was trained with, and what every part of SpectraFrame uses unless told otherwise.
DEFAULT_FLOW_METHOD = "coarse2fine"

# The keys of `spectraframe.flow.api.METHODS`, in its order (checked there).
FLOW_METHODS = ("coarse2fine", "dis", "farneback")
