"""Record ids that sort by creation time.

A random id (a UUID) lands each new row on a random page of the primary-key index, so every
insert into a large table rewrites a page that is probably not in memory; an id that starts with
the time appends at the right edge instead. The random tail keeps ids unique across processes.
"""

from __future__ import annotations

import secrets
import time


def time_ordered_id(prefix: str, separator: str = "-") -> str:
    """``<prefix><sep><microseconds since the epoch, 14 hex><8 random hex>``, e.g. for a loan."""
    return f"{prefix}{separator}{time.time_ns() // 1000:014X}{secrets.token_hex(4).upper()}"
