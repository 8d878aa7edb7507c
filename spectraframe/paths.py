"""Where commands may read and write: the one rule every command that writes follows.

Inputs: `require_file` says what is wrong with a path that should be a regular file (missing, a folder,
a device such as /dev/zero) instead of letting a reader fail on it.

Outputs, checked by `check_outputs` for all of a command's outputs before any work starts:
* an output never is, or contains, one of the command's inputs, the current folder, the home folder or
  a filesystem root, and two outputs of one command never collide;
* an output's folder must be creatable: no regular file on its path (`-o notes.txt/out.mp4`), and its
  name must fit the filesystem;
* an existing output is refused unless the user passed --overwrite, and even then it is replaced only
  when we can prove we made it: a file by a file, and a folder only when it holds our marker file
  (`MARKER`, written into every folder output we make), never because it "looks like" one of ours.

`install_output` then puts a finished output in place without ever deleting the old one first, and
`hidden_sibling` names the work, lock and temporary files next to an output so that they fit the
filesystem's name limit however long the output's name is.

Every file we write whole (weights, checkpoints, configs, cache entries, state records, frames) goes through
`atomic_write`: a temporary file beside it renamed onto the name, so no reader ever sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from spectraframe.errors import SpectraFrameError

# Written into every folder output (frames, comparison pictures, demo): the proof --overwrite asks for.
MARKER = ".spectraframe-output"
# Bytes in one file name on the filesystems we meet (ext4, xfs, btrfs, APFS, NTFS in UTF-16 units).
NAME_MAX = 255
# Bytes in a whole path the system calls take (Linux PATH_MAX, less its closing NUL).
PATH_MAX = 4095
# Bytes the work, lock and temporary names next to an output, and the names of the files inside a folder output
# or its work folder, may add to the output's path.
WORK_NAME_ROOM = 64


def check_path_length(path: str | Path, what: str, room: int = 0) -> None:
    """Refuse a path the system cannot open: a part longer than NAME_MAX bytes, or a whole (absolute, plus `room`
    bytes of names we add to it) longer than PATH_MAX; checked up front, where a reader would fail with OSError."""
    path = Path(path)
    shown = describe_long_path(path)
    for part in path.parts:
        if _name_bytes(part) > NAME_MAX:
            raise SpectraFrameError(f"{what} {shown}: its part {describe_long_path(part)} has {_name_bytes(part)} "
                                    f"bytes, more than the {NAME_MAX} a file or folder name may have; choose shorter "
                                    "names")
    size = _name_bytes(str(path.absolute())) + room
    if size > PATH_MAX:
        added = f" with the {room} bytes of work names spectraframe adds" if room else ""
        raise SpectraFrameError(f"{what} {shown}: the path has {size} bytes{added}, more than the {PATH_MAX} a path "
                                "may have; choose a shorter path")


def describe_long_path(text: str | Path | None) -> str:
    """A path shortened for a message: its first and last 28 characters around `...`."""
    text = str(text)
    return text if len(text) <= 60 else f"{text[:28]}...{text[-28:]}"


# --- writing a file ------------------------------------------------------------------------------


def current_umask() -> int:
    """The process umask, read without changing it where Linux tells it (setting it races other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; Windows cannot open a folder for fsync and needs no such step)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[str], object], *, durable: bool = True) -> Path:
    """Call `write(tmp_path)` then rename onto `path`, so a crash never leaves a half file under the final name.

    With `durable` the data is fsynced before the rename and the folder after it, so after a power loss the file is
    the old or the new one, never empty (caches and frames, which a rerun recomputes, skip the fsyncs). The file gets
    the permissions of a plainly created one (0o666 & ~umask): mkstemp makes it owner-only, which would keep
    exported weights from other users. The temporary name fits the filesystem however long `path`'s name is.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    random_part = "XXXXXXXX.tmp"  # mkstemp's 8 random characters and the suffix
    prefix = hidden_sibling(path, random_part).name[: -len(random_part)]
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as written:  # opened for writing: Windows refuses fsync on read-only handles
                os.fsync(written.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_directory(path.parent)
    return path


# --- inputs ----------------------------------------------------------------------------------------


def require_file(path: str | Path, what: str = "file") -> Path:
    """`path` as a Path when it is a regular file (or a link to one); else a sentence saying what it is."""
    path = Path(path)
    check_path_length(path, what)
    if path.is_file():
        return path
    if path.is_dir():
        raise SpectraFrameError(f"{what} {path} is a folder, not a file")
    if path.exists():
        raise SpectraFrameError(f"{what} {path} is not a regular file (a device, pipe or socket): give a file")
    raise SpectraFrameError(f"{what} not found: {path}")


# --- names next to an output -----------------------------------------------------------------------


def _name_bytes(name: str) -> int:
    return len(os.fsencode(name))


def hidden_sibling(path: str | Path, tag: str) -> Path:
    """`.NAME.TAG` next to `path`; for a name too long for that, a shortened name with a hash of the full one."""
    path = Path(path)
    name = f".{path.name}.{tag}"
    if _name_bytes(name) <= NAME_MAX:
        return path.parent / name
    digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]
    keep = path.name
    while _name_bytes(f".{keep}-{digest}.{tag}") > NAME_MAX:
        keep = keep[:-1]
    return path.parent / f".{keep}-{digest}.{tag}"


# --- outputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """One thing a command writes. `kind`: "file" or "folder". `option`: how the user named it (for messages).

    `empty_ok`: an existing empty folder counts as new (nothing in it can be lost); for commands without
    --overwrite whose folder people create beforehand (prepare, train)."""

    path: Path
    kind: str = "file"
    option: str = "-o"
    empty_ok: bool = False


def is_ours(folder: str | Path) -> bool:
    """Whether a folder holds our marker, i.e. spectraframe made it (and --overwrite may replace it)."""
    folder = Path(folder)
    return folder.is_dir() and not folder.is_symlink() and (folder / MARKER).is_file()


def mark_ours(folder: str | Path, command: str) -> None:
    """Write the marker into a folder output we are making (before anything else goes into it)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(f"made by `spectraframe {command}`: `--overwrite` may replace this folder\n")


def _protected_places(inputs: Iterable[str | Path]) -> list[tuple[Path, str]]:
    places = [(Path(p).resolve(), f"the input {p}") for p in inputs if p is not None]
    places.append((Path.cwd().resolve(), "the current folder"))
    with contextlib.suppress(RuntimeError, KeyError):  # no home folder known: nothing to protect there
        places.append((Path.home().resolve(), "your home folder"))
    return places


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_parent(output: Output) -> None:
    """The folder the output goes into must be a folder, or creatable: no regular file on the way."""
    parent = output.path.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise SpectraFrameError(f"cannot write {output.option} {output.path}: {folder} is a file, not a "
                                        "folder; choose another path")
            return


def _check_one(output: Output, places: list[tuple[Path, str]], overwrite: bool | None) -> None:
    path = output.path
    target = path.resolve()
    if target.parent == target:
        raise SpectraFrameError(f"{output.option} {path} is a filesystem root: give it a new file or folder name")
    if _name_bytes(path.name) > NAME_MAX:
        raise SpectraFrameError(f"{output.option} {path.name[:40]}...: the name has {_name_bytes(path.name)} bytes, "
                                f"more than the {NAME_MAX} a file name may have; choose a shorter name")
    check_path_length(path, output.option, WORK_NAME_ROOM + _name_bytes(hidden_sibling(path, "spectraframe-work").name)
                      - _name_bytes(path.name))
    for place, what in places:
        if place == target or _same_file(place, path):
            raise SpectraFrameError(f"{output.option} {path} is {what}: give it a new file or folder name")
    for place, what in places:
        if place.is_relative_to(target):
            raise SpectraFrameError(f"{output.option} {path} contains {what}, which replacing it would delete: "
                                    "give it a new file or folder name")
    if path.name in ("", ".", ".."):  # the hidden work and lock names are built from it
        raise SpectraFrameError(f"{output.option} {path} names no file or folder: give it a new name")
    _check_parent(output)
    if not (path.exists() or path.is_symlink()):
        return
    if output.kind == "folder" and output.empty_ok and path.is_dir() and not path.is_symlink() \
            and not any(path.iterdir()):
        return
    if overwrite is None:  # a command without --overwrite
        what = "is not empty" if path.is_dir() else "is not a folder"
        raise SpectraFrameError(f"{output.option} {path} already exists and {what}: choose a new name (or an "
                                "empty folder)")
    if not overwrite:
        raise SpectraFrameError(f"{path} already exists; pass --overwrite to replace it")
    if output.kind == "file":
        if path.is_dir() or (path.exists() and not path.is_file()):
            raise SpectraFrameError(f"{path} exists and is not a file: --overwrite replaces only a file with a "
                                    "file; remove it yourself or choose another name")
        return
    if not path.is_dir() or path.is_symlink():
        raise SpectraFrameError(f"{path} exists and is not a folder: --overwrite replaces only a folder that "
                                "spectraframe made; remove it yourself or choose another name")
    if not is_ours(path):
        raise SpectraFrameError(f"{path} was not made by spectraframe (it has no {MARKER} marker): --overwrite "
                                "replaces only our own outputs; remove it yourself or choose another name")


def check_outputs(outputs: Sequence[Output], inputs: Iterable[str | Path | None] = (), *,
                  overwrite: bool | None = False) -> None:
    """Refuse, before any work, outputs that could destroy something we did not make (see the module doc).

    `overwrite`: the user's --overwrite; None for a command that has no such option (an existing output is
    then always refused, except an empty folder where `empty_ok`)."""
    places = _protected_places([p for p in inputs if p is not None])
    for output in outputs:
        _check_one(output, places, overwrite)
    resolved = [(o, o.path.resolve()) for o in outputs]
    for i, (a, path_a) in enumerate(resolved):
        for b, path_b in resolved[i + 1:]:
            if path_a == path_b or path_a.is_relative_to(path_b) or path_b.is_relative_to(path_a):
                raise SpectraFrameError(f"{a.option} {a.path} and {b.option} {b.path} would overwrite each other: "
                                        "give them different names")


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def install_output(new: Path, output: Path) -> None:
    """Rename `new` to `output`. An existing output is moved aside first and deleted only once the new one is
    in place, so a failure at any step leaves a complete output (old or new) under the name."""
    if not (output.exists() or output.is_symlink()):
        os.replace(new, output)
        return
    aside = hidden_sibling(output, "spectraframe-old")
    remove_path(aside)  # left by a run killed between the two renames: the output it replaced was installed
    os.replace(output, aside)
    try:
        os.replace(new, output)
    except BaseException:
        os.replace(aside, output)
        raise
    remove_path(aside)
