"""Everything under ``OPENDMP_HOME`` is private to OpenDMP's user (docs/security.md,
"Files under OPENDMP_HOME").

The database holds names, e-mail addresses, INS numbers and titles in clear; the keys
folder, the master key. So every file is created 0600 and every folder 0700:

- the process umask is ``0o077`` from the start of every ``opendmp`` command
  (:func:`restrict_umask`), so nothing we or a library create is group/other-accessible;
- and the places that create files set the mode explicitly anyway (:func:`make_private_dir`,
  :func:`create_private_file`, :func:`write_private_file`; SQLite gives ``-wal``/``-shm``
  the mode of the database file, which is created 0600 before SQLite opens it).

:func:`loose_paths` finds what is group/other-accessible; ``app.check_home`` refuses to
start in production when something is, and warns otherwise.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = [
    "PRIVATE_UMASK",
    "create_private_file",
    "loose_paths",
    "make_private_dir",
    "restrict_umask",
    "write_private_file",
]

PRIVATE_UMASK = 0o077
_GROUP_OTHER = 0o077


def restrict_umask() -> None:
    """New files 0600 and folders 0700, whoever creates them in this process."""
    os.umask(PRIVATE_UMASK)


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents, each 0700 (an existing folder is kept as is:
    the start-up check reports it)."""
    missing: list[Path] = []
    current = Path(path)
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # created meanwhile by a concurrent process
        os.chmod(folder, 0o700)  # mkdir's mode is subject to the umask
    return Path(path)


def create_private_file(path: Path) -> None:
    """Create an empty 0600 ``path`` if it does not exist (so that whatever fills it, e.g.
    SQLite, keeps that mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, 0600 from its creation (a file that existed is made 0600
    before anything is written to it)."""
    make_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
    finally:
        if fd >= 0:
            os.close(fd)


def _is_loose(mode: int) -> bool:
    return bool(mode & _GROUP_OTHER)


def loose_paths(home: Path, *, shallow: tuple[Path, ...] = ()) -> list[tuple[Path, int]]:
    """Every path under ``home`` (``home`` included) that is group/other-accessible, with its
    mode. Symbolic links are not followed. In a ``shallow`` folder (the blob root: one folder
    per record, millions of files) the walk stops at its sub-folders: a file in a 0700
    folder cannot be reached by another user whatever its own mode, and start-up must not
    stat every blob."""
    found: list[tuple[Path, int]] = []
    shallow_set = {Path(p) for p in shallow}
    try:
        mode = os.lstat(home).st_mode
    except FileNotFoundError:
        return found
    if _is_loose(mode):
        found.append((Path(home), stat.S_IMODE(mode)))
    for root, dirs, files in os.walk(home):
        here = Path(root)
        for name in sorted([*dirs, *files]):
            path = here / name
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue  # removed meanwhile
            if not stat.S_ISLNK(info.st_mode) and _is_loose(info.st_mode):
                found.append((path, stat.S_IMODE(info.st_mode)))
        if here in shallow_set:
            dirs.clear()
    return found
