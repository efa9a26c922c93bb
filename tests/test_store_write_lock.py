"""The process's SQLite write lock is handed over in arrival order, so no writer starves."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from creditgraph.store.db import FairLock, make_engine, process_write_lock


def test_a_released_lock_goes_to_the_longest_waiter_not_back_to_its_holder() -> None:
    lock = FairLock()
    order: list[str] = []
    lock.acquire()
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        with lock:
            order.append("waiter")

    thread = threading.Thread(target=waiter)
    thread.start()
    waiting.wait(5)
    time.sleep(0.05)  # the waiter is queued
    lock.release()
    with lock:  # the holder asks again at once: it must come second
        order.append("holder")
    thread.join(5)
    assert order == ["waiter", "holder"]


def test_many_threads_each_get_the_lock_in_turn_and_never_together() -> None:
    lock = FairLock()
    inside, most, counts = [0], [0], {n: 0 for n in range(4)}

    def work(n: int) -> None:
        for _ in range(200):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                counts[n] += 1
                inside[0] -= 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most[0] == 1 and all(count == 200 for count in counts.values())
    with pytest.raises(RuntimeError):
        FairLock().release()


def test_engines_on_one_database_share_its_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    first, second = make_engine(url), make_engine(url)
    other = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        assert process_write_lock(first) is process_write_lock(second)
        assert process_write_lock(first) is not process_write_lock(other)
    finally:
        for engine in (first, second, other):
            engine.dispose()
