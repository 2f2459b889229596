"""Writing output files safely: whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "OutputExistsError"]


class OutputExistsError(FileExistsError):
    """The output file exists and replacing it was not asked for."""


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
    OutputExistsError
        If `path` exists and `force` is false.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(
            f"output file '{path}' exists; pass --force to replace it."
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"output folder '{folder}' does not exist."
        )
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=folder
    )
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
