"""Writing output files safely: whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "check_output", "OutputExistsError"]


class OutputExistsError(FileExistsError):
    """The output file exists and replacing it was not asked for."""


def check_output(path, force: bool = False) -> Path:
    """Refuse an output path that must not be written, before any work.

    Raises
    ------
    OutputExistsError
        If `path` exists and `force` is false.
    IsADirectoryError, ValueError
        If `path` is a folder, or exists and is not a regular file (a
        device such as ``/dev/null``, a pipe): it is never replaced.
    FileNotFoundError
        If its folder does not exist.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"output file '{path}' is a folder; give a file name."
        )
    if path.exists() and not path.is_file():
        # a device or a pipe: replacing it would destroy it (-o /dev/null)
        raise ValueError(
            f"output file '{path}' must be a regular file, got a special "
            "file; write to a regular file instead."
        )
    if path.exists() and not force:
        raise OutputExistsError(
            f"output file '{path}' exists; pass --force to replace it."
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"output folder '{folder}' does not exist."
        )
    return path


def atomic_write(
    path, write: Callable[[str], None], force: bool = False
) -> Path:
    """Write `path` through a temporary file moved into place at the end.

    `write` receives the temporary file's name and writes the whole
    content.  If it raises (Ctrl-C included), the temporary file is
    removed and `path` is left as it was; if the process is killed, a
    hidden ``.NAME.*.tmp`` may remain but `path` is never truncated.

    Raises
    ------
    OutputExistsError, IsADirectoryError, ValueError, FileNotFoundError
        As :func:`check_output`.
    PermissionError
        If no file can be created in the folder.
    """
    path = check_output(path, force)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=folder
        )
    except OSError as err:
        raise PermissionError(
            f"output file '{path}' cannot be written in folder '{folder}': "
            f"{err.strerror}."
        ) from err
    os.close(fd)
    # mkstemp makes the file private (0600); give it the usual mode
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
