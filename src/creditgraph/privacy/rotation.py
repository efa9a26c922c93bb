"""Master-key rotation: what makes an erasure final in the backups too.

A backup taken before an erasure still holds the erased person's wrapped data key, which the
master key in force opens. Rotating re-wraps every remaining person's data key under a new master
key, in one transaction, and then replaces the key file, destroying the old key: from then on
no backup taken before the rotation can be read, and the erased person's key in it is lost for
good. The data itself is not re-encrypted (the data keys stay), so a rotation costs one unwrap
and one wrap per person.

The new key is written beside the old (``master.key.next``, synced with its folder) before the
transaction and renamed over it after the commit: the old key's file is replaced, not overwritten
in place. A crash between the two leaves the database under the new key and both files in
place: the next ``open_master_key`` or start-up check finishes the move (``keys.current_key``).

The whole rotation holds the key file's lock alone (``keys.key_lock``); ingests hold it shared,
so none wraps a new person's key under the old key while the rotation runs. Inside the
transaction the master key's row is replaced first: on PostgreSQL that waits for any writer that
checked the row (``keys.ensure_current``) and makes later ones find it gone, and on SQLite it
takes the write lock before the data keys are read, so none is missed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, bindparam, delete, insert, select, update

from creditgraph.privacy.keys import (
    FileKeyProvider,
    check_value,
    create_key_file,
    current_key,
    key_lock,
    next_key_file,
    open_master_key,
    register,
)
from creditgraph.store.files import sync_dir
from creditgraph.store.models import MasterKey, PersonKey, table_of

CHUNK = 10_000


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    rewrapped: int


def rotate_master_key(engine: Engine, path: Path) -> Rotation:
    """Re-wrap every data key under a new master key and destroy the old key file.

    Refused with ``MasterKeyBusy`` while an ingest or another rotation holds the key.
    """
    with key_lock(path, exclusive=True, wait=False):
        return _rotate(engine, path)


def _rotate(engine: Engine, path: Path) -> Rotation:
    with engine.connect() as conn:
        stored = conn.execute(select(MasterKey.key_id, MasterKey.check_value)).all()
    current_key(path, stored, locked=True)  # a rotation cut short after its commit: finish it
    old = open_master_key(engine, path)
    pending = next_key_file(path)
    pending.unlink(missing_ok=True)  # a rotation that never committed: its key wrapped nothing
    new = FileKeyProvider(create_key_file(pending))
    keys = table_of(PersonKey)
    rewrapped = 0
    with engine.begin() as conn:
        # first: writers that checked the old key finish before, later ones see it gone
        conn.execute(delete(table_of(MasterKey)))
        conn.execute(
            insert(table_of(MasterKey)).values(
                key_id=new.key_id,
                check_value=check_value(new),
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
        rows = conn.execute(select(keys.c.person_id, keys.c.wrapped)).all()
        for start in range(0, len(rows), CHUNK):
            part = [
                {
                    "pk": person_id,
                    "key_id": new.key_id,
                    "wrapped": new.wrap(old.unwrap(wrapped, person_id), person_id),
                }
                for person_id, wrapped in rows[start : start + CHUNK]
            ]
            conn.execute(
                update(keys)
                .where(keys.c.person_id == bindparam("pk"))
                .values(key_id=bindparam("key_id"), wrapped=bindparam("wrapped")),
                part,
            )
            rewrapped += len(part)
    os.replace(pending, path)  # the old key is gone: backups before now are unreadable
    sync_dir(path.parent)
    register(engine, new)
    return Rotation(old.key_id, new.key_id, rewrapped)
