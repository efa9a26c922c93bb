"""Files at rest that hold personal data are private to the account that runs creditgraph.

The home holds the database (``person_identities``: names and phones), its WAL and shared-memory
files, the pseudonym key, the lake, the quarantine and the reports. Everything creditgraph creates
there is 0600 (files) or 0700 (directories): the CLI sets the umask 077 at start, and the writers
that run in-process too (database, lake, quarantine, key) create their files private whatever the
caller's umask. At start, a home or database left open by an older version or by hand is made
private with a warning; one that belongs to another user cannot be, and is refused.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from creditgraph.settings import Settings

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
OPEN_BITS = 0o077  # any permission for group or others


class ExposedHomeError(RuntimeError):
    """A path that holds personal data is open to others and this user cannot close it."""


def use_private_umask() -> int:
    """Files and folders this process creates from now on are the owner's alone; returns the old umask."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """``mkdir -p`` whose every new folder is 0700 (``mkdir -p`` gives parents the umask's mode)."""
    missing: list[Path] = []
    here = path
    while not here.exists():
        missing.append(here)
        here = here.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # another process made it first
        os.chmod(folder, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 unless it exists, so a writer that opens it later keeps 0600."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    os.close(fd)
    return path


@dataclass(frozen=True)
class Tightened:
    path: Path
    was: int
    now: int

    def warning(self) -> str:
        return f"{self.path} was open to group or others (mode {self.was:o}), now {self.now:o}"


def make_private(paths: list[Path]) -> list[Tightened]:
    """Close every existing path in ``paths`` to group and others; what was changed is returned.

    A path owned by another user is not ours to change: ``ExposedHomeError`` names it and the fix.
    """
    changed: list[Tightened] = []
    for path in paths:
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if not mode & OPEN_BITS:
            continue
        private = mode & ~OPEN_BITS
        wanted = DIR_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
        if info.st_uid != os.geteuid():
            raise ExposedHomeError(
                f"{path} is open to group or others (mode {mode:o}) and belongs to another user "
                f"(uid {info.st_uid}): it holds personal data; make it private "
                f"(chmod {wanted:o} {path}) or choose another CREDITGRAPH_HOME"
            )
        try:
            os.chmod(path, private)
        except OSError as exc:
            raise ExposedHomeError(
                f"{path} is open to group or others (mode {mode:o}) and cannot be made private "
                f"({exc.strerror}): it holds personal data; run chmod {wanted:o} {path}"
            ) from None
        changed.append(Tightened(path, mode, private))
    return changed


def sqlite_files(database: Path) -> list[Path]:
    """A SQLite database and the files SQLite keeps beside it."""
    return [
        database,
        *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal")),
    ]


def home_paths(settings: Settings) -> list[Path]:
    """The paths that hold personal data, the home first (closing it closes all beneath it)."""
    home = settings.home_dir
    # the key file is not here: one found open is refused when it is read (privacy.pseudonym), as
    # its pseudonyms may have leaked and closing it now would hide that
    paths = [home, settings.lake_dir, settings.quarantine_dir, home / "reports"]
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        paths += sqlite_files(Path(url.database).expanduser().resolve())
    return paths


def secure_home(settings: Settings) -> list[str]:
    """At start: close an existing home and database to others; the warnings to show are returned.

    A home that does not exist is left alone (the commands that need it create it private).
    """
    return [t.warning() for t in make_private(home_paths(settings))]


def sync_dir(folder: Path) -> None:
    """Make a file's creation or rename in ``folder`` durable (the folder's entry is synced)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
