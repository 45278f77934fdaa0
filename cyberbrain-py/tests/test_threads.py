"""One handle shared by several Python threads: calls release the GIL and must not deadlock."""

import pathlib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cyberbrain

THREADS = 4
ROUNDS = 25


def test_four_threads_call_at_once(cb: cyberbrain.Cyberbrain) -> None:
    barrier = threading.Barrier(THREADS)

    def work(worker: int) -> int:
        barrier.wait(timeout=30)
        created = 0
        for round_ in range(ROUNDS):
            d = cb.create_directive(f"thread {worker} round {round_}", "D1")
            assert cb.get_directive(d["id"])["name"] == d["name"]
            cb.update_directive(d["id"], directive_text=f"text {round_}")
            assert cb.list_directives(page_size=10)["count"] >= 5
            assert cb.get_task("task1")["task_key"] == "log_triage"
            cb.set_allowlist(f"worker-{worker}", tags=[str(round_)])
            assert cb.health()["status"] == "ok"
            created += 1
        return created

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(work, n) for n in range(THREADS)]
        # A deadlock shows up as a timeout here rather than a hung test run.
        results = [f.result(timeout=120) for f in futures]

    assert results == [ROUNDS] * THREADS
    assert cb.list_directives()["count"] == 5 + THREADS * ROUNDS
    allowlist = cb.get_allowlist()
    assert allowlist["count"] == THREADS
    assert all(entry["tags"] == [str(ROUNDS - 1)] for entry in allowlist["results"])


# Holds SQLite's write lock until a line arrives on stdin. It must be another process: POSIX
# file locks do not exclude each other inside one process, and the stdlib's SQLite is a different
# copy of the library from the one compiled into the extension.
LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def test_gil_is_released_while_a_call_waits(tmp_path: pathlib.Path) -> None:
    """A native call blocked on a database lock must let Python run; Python then frees the lock.

    Another process holds the write lock; a worker thread starts a write through the handle
    (which waits up to busy_timeout_ms for the lock); the main thread, still running Python,
    tells the holder to let go while that call is in flight. If the call held the GIL, the main
    thread could not run until the write had given up after 10 s.
    """
    path = tmp_path / "locked.db"
    cb = cyberbrain.Cyberbrain.open(f"sqlite:///{path}?busy_timeout_ms=10000")
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"

        def write() -> float:
            begun = time.monotonic()
            cb.create_directive("written after the lock", "D1")
            return time.monotonic() - begun

        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(write)
            time.sleep(0.5)  # this line runs only because the worker's call released the GIL
            assert not future.done(), "the write should still be waiting for the lock"
            holder.stdin.write("release\n")
            holder.stdin.flush()
            waited = future.result(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=10)
    assert 0.4 < waited < 5, f"the write waited {waited:.2f}s"
    assert cb.list_directives()["count"] == 6
