"""Named points of an ingest or a lake rewrite where a crash test stops the process, to kill it
there for real.

Only for tests: with ``CREDITGRAPH_TEST_PAUSE_AT=<point>`` (or ``<point>#<n>`` for its n-th
passing) and ``CREDITGRAPH_TEST_PAUSE_MARKER=<file>``, the process writes its pid to the marker
file on reaching the point and sleeps until it is killed. Without the variables a point costs a
dictionary lookup.

Points, in the order an ingest passes them:

- ``batch_started``: the batch is recorded ``running``, no file written yet;
- ``file_staged``: a file's lake part and quarantine file are staged (``*.part``) and its
  database rows written, its record not yet written nor its transaction committed;
- ``file_recorded``: the file's transaction committed, its staged files not yet renamed;
- ``file_published``: the file's part and quarantine file are in place;
- ``batch_finishing``: every file is in, the batch is still ``running``.

And in a lake part's rewrite (compaction, ``store.lake.rewrite_part``):

- ``rewrite_staged``: the new part is written and synced beside the old one;
- ``rewrite_replaced``: the new part has replaced the old one.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

POINT_ENV = "CREDITGRAPH_TEST_PAUSE_AT"
MARKER_ENV = "CREDITGRAPH_TEST_PAUSE_MARKER"
POINTS = ("batch_started", "file_staged", "file_recorded", "file_published", "batch_finishing")
LAKE_POINTS = ("rewrite_staged", "rewrite_replaced")

_passed: Counter[str] = Counter()


def reached(point: str) -> None:
    """Pause here for good if a test asked for this point (see the module's docstring)."""
    wanted = os.environ.get(POINT_ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition("#")
    if name != point:
        return
    _passed[point] += 1
    if _passed[point] != int(nth or 1):
        return
    marker = os.environ.get(MARKER_ENV)
    if marker:
        staged = Path(marker + ".tmp")
        staged.write_text(str(os.getpid()))
        staged.replace(marker)
    while True:
        time.sleep(3600)
