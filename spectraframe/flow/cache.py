"""A disk cache of flows, so training does not recompute the same pairs every epoch.

Each pair is one float16 ``.npy`` file whose name is a hash of both frames' content (dtype, shape and
bytes), the method, its full parameters and a format version. Writes are atomic (temp file + rename), so
several data-loader workers may share a directory. When the total size passes ``max_bytes`` the least
recently used files (by modification time, refreshed on every hit) are deleted. The total size is one record
in the directory (`SIZE_FILE`), updated under a file lock by every process that adds a flow: workers sharing
a cache see each other's writes (they would otherwise each allow `max_bytes`), and opening a cache reads the
record instead of walking millions of files (only a cache without one is walked, once).

Bit-identity: the flow handed out is always the float16-rounded value converted back to float32, for a
fresh computation as for a hit, so a hit is bit-identical to recomputing (same inputs and parameters;
CPU results can differ in the last bits between thread counts, so `cpu_threads` is part of the key).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spectraframe.errors import SpectraFrameError
from spectraframe.paths import atomic_write

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

log = logging.getLogger(__name__)

# Bump when the solver changes its results, so stale entries are never served.
CACHE_FORMAT = "spectraframe-flow-v1"
DEFAULT_MAX_BYTES = 2 * 1024**3
# After an eviction the cache is brought to this share of the limit, so it does not evict on every put.
EVICT_TO_FRACTION = 0.9
# The shared record of the cache's total size, and the lock that serialises its updates (top level: never
# taken for an entry, which lives in a two-character subfolder).
SIZE_FILE = "size.json"
LOCK_FILE = ".lock"


def content_hash(images: torch.Tensor) -> str:
    """Hash of a tensor's dtype, shape and values (device-independent)."""
    data = images.detach().contiguous().cpu()
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{data.dtype}|{tuple(data.shape)}|".encode())
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


class FlowCache:
    """Disk store of flows by key for :func:`spectraframe.flow.estimate_flow` (pass it as ``cache=``), which computes
    what is missing (``flow.api.cached_flow``)."""

    def __init__(self, directory: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise SpectraFrameError(f"flow cache max_bytes must be positive, got {max_bytes}")
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpectraFrameError(f"cannot create the flow cache directory {self.directory}: {exc}") from exc
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        with self._locked(), contextlib.suppress(OSError):  # read-only: nothing to record
            if self._recorded_size() is None:  # a cache made before the record existed, or a damaged record
                self._record_size(sum(size for _, size, _ in self._entries()))

    # ---------------------------------------------------------------------------- the shared size record
    @contextlib.contextmanager
    def _locked(self):
        """Hold the cache's lock (all processes): the size record is read and written under it."""
        try:
            handle = open(self.directory / LOCK_FILE, "a") if fcntl is not None else None  # noqa: SIM115
        except OSError:  # a read-only cache: it serves hits and records nothing
            handle = None
        if handle is None:  # (or Windows: the record is then kept without a lock, a small overshoot at worst)
            yield
            return
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _recorded_size(self) -> int | None:
        try:
            size = json.loads((self.directory / SIZE_FILE).read_text())["bytes"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return size if isinstance(size, int) and size >= 0 else None

    def _record_size(self, size: int) -> None:
        text = json.dumps({"bytes": int(size)})
        atomic_write(self.directory / SIZE_FILE, lambda tmp: Path(tmp).write_text(text), durable=False)

    # ----------------------------------------------------------------------------------- keys, files
    @staticmethod
    def key(target_hash: str, neighbour_hash: str, method: str, params: Any) -> str:
        """Cache key of one pair: both content hashes, the method and all its parameter values."""
        values = dataclasses.asdict(params)
        for name in getattr(params, "RESULT_NEUTRAL_FIELDS", ()):
            values.pop(name, None)
        described = json.dumps(values, sort_keys=True)
        text = "|".join([CACHE_FORMAT, target_hash, neighbour_hash, method, described])
        return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def _entries(self) -> list[tuple[Path, int, float]]:
        entries = []
        for path in self.directory.glob("*/*.npy"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # evicted by another process meanwhile
                continue
            entries.append((path, stat.st_size, stat.st_mtime))
        return entries

    def size_bytes(self) -> int:
        """Total size of the cached flows on disk, in bytes."""
        return sum(size for _, size, _ in self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def clear(self) -> None:
        with self._locked():
            for path, _, _ in self._entries():
                path.unlink(missing_ok=True)
            self._record_size(0)

    # ------------------------------------------------------------------------------------ get / put
    def get(self, key: str) -> torch.Tensor | None:
        """The cached (2, H, W) float16 flow, or None. A hit refreshes the entry's age."""
        path = self.path(key)
        try:
            flow = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("flow cache entry %s is unreadable (%s); it is recomputed", path, exc)
            path.unlink(missing_ok=True)
            return None
        if flow.dtype != np.float16 or flow.ndim != 3 or flow.shape[0] != 2:
            log.warning("flow cache entry %s has shape %s %s; it is recomputed", path, flow.shape, flow.dtype)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):  # a read-only cache still serves hits
            os.utime(path)
        return torch.from_numpy(flow)

    def put(self, key: str, flow: torch.Tensor) -> None:
        """Store a (2, H, W) flow as float16 (atomically), evicting old entries past the size limit."""
        array = np.ascontiguousarray(flow.detach().to(torch.float16).cpu().numpy())
        if array.nbytes > self.max_bytes:
            log.warning("a flow of %d bytes exceeds the cache limit of %d bytes; not cached", array.nbytes,
                        self.max_bytes)
            return
        path = self.path(key)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as temp_file:  # a file object: np.save would add .npy to a name
                np.save(temp_file, array, allow_pickle=False)

        with self._locked():
            replaced = path.stat().st_size if path.exists() else 0  # another worker computed the same pair
            atomic_write(path, write, durable=False)
            size = (self._recorded_size() or 0) + path.stat().st_size - replaced
            if size > self.max_bytes:
                size = self._evict()
            self._record_size(size)

    def _evict(self) -> int:
        """Delete least recently used entries until the cache is under EVICT_TO_FRACTION of its limit; returns the
        size left (counted from the files, which also corrects the record). Called under the lock."""
        entries = sorted(self._entries(), key=lambda entry: entry[2])
        total = sum(size for _, size, _ in entries)
        goal = self.max_bytes * EVICT_TO_FRACTION
        removed = 0
        for path, size, _ in entries:
            if total <= goal:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        log.debug("flow cache: evicted %d entries, %d bytes remain", removed, total)
        return total
