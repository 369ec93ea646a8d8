"""Output paths: check an output folder or file before any work is done, and write files atomically.

Every command that writes (``synth``, ``derive``, ``report``, ``template``, ``db export``) calls
:func:`prepare_output_dir` or :func:`prepare_output_file` first, so an unusable ``--out`` (an existing
file, a path under a file, a folder that cannot be created or written) is one clear message and exit
code 2 instead of a traceback after minutes of work. Files are then written with :func:`atomic_write`:
to a temporary file in the same folder, renamed over the target only when complete, so a failure never
leaves a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["OutputPathError", "atomic_write", "atomic_write_bytes", "prepare_output_dir", "prepare_output_file"]


class OutputPathError(ValueError):
    """An output path that cannot be used; the message names the path and the reason."""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _probe_writable(folder: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".blincompass-probe-", dir=folder)
    except OSError as exc:
        raise OutputPathError(f"cannot write into folder {folder}: {_reason(exc)}") from exc
    os.close(fd)
    os.unlink(name)


def prepare_output_dir(path: str | Path, *, create: bool = True) -> Path:
    """Make sure ``path`` is a folder the process can write into (creating it and its parents).

    With ``create=False`` nothing is created: the nearest existing folder on the path must be writable
    (the check a command makes before its work, so that a failing run leaves no empty folder).

    Raises
    ------
    OutputPathError
        When ``path`` is an existing file, lies under a file, or cannot be created or written. Folders
        created here are removed again when the folder turns out not to be writable.
    """
    p = Path(path)
    try:
        if p.exists() and not p.is_dir():
            raise OutputPathError(f"output folder {p} is an existing file; give a folder (new or existing)")
        existing = next(a for a in (p.absolute(), *p.absolute().parents) if a.exists())
        if not existing.is_dir():
            raise OutputPathError(f"output folder {p} cannot be created: {existing} is a file, not a folder")
        if not create:
            try:
                _probe_writable(existing)
            except OutputPathError as exc:
                raise OutputPathError(f"output folder {p} cannot be created: {exc}") from None
            return p
        created = [a for a in (p, *p.parents) if not a.exists()]
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputPathError(f"output folder {p} cannot be created: {_reason(exc)}") from exc
        try:
            _probe_writable(p)
        except OutputPathError:
            for a in created:  # deepest first: leave nothing behind
                try:
                    a.rmdir()
                except OSError:
                    break
            raise
    except OSError as exc:  # e.g. a parent that cannot be listed
        raise OutputPathError(f"output folder {p} cannot be used: {_reason(exc)}") from exc
    return p


def prepare_output_file(path: str | Path, *, create: bool = True) -> Path:
    """Make sure a file can be written at ``path``: not a folder, and its folder usable
    (:func:`prepare_output_dir`, with the same ``create``)."""
    p = Path(path)
    try:
        is_dir = p.is_dir()
    except OSError as exc:
        raise OutputPathError(f"output file {p} cannot be used: {_reason(exc)}") from exc
    if is_dir:
        raise OutputPathError(f"output file {p} is an existing folder; give a file name")
    try:
        prepare_output_dir(p.parent, create=create)
    except OutputPathError as exc:
        raise OutputPathError(f"output file {p} cannot be written: {exc}") from None
    return p


def atomic_write(path: str | Path, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    On any failure the temporary file is removed and ``path`` is left as it was. Returns ``path``.
    """
    target = Path(path)
    # a plain name (not mkstemp) so that the file gets the usual permissions; the pid keeps two
    # concurrent runs apart
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        writer(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda p: p.write_bytes(data))
