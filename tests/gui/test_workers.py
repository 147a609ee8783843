import sys
import threading
from concurrent.futures import wait

from PySide6.QtCore import QObject, Signal

from sdhd_studio.gui.workers import PoolExecutor, WorkerPool, busy_pools


def test_a_pool_runs_many_jobs_and_never_more_than_its_threads_at_once(qapp):
    pool = WorkerPool(2)
    lock = threading.Lock()
    running, peak, done = [0], [0], []

    def job(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        with lock:
            running[0] -= 1
            done.append(i)

    for i in range(12000):
        pool.run(lambda i=i: job(i))
    pool.waitForDone()
    assert sorted(done) == list(range(12000))
    assert peak[0] <= 2
    assert not busy_pools()


def test_the_executor_delivers_results_and_errors_through_futures(qapp):
    pool = WorkerPool(2)
    executor = PoolExecutor(pool)
    ok = executor.submit(lambda a, b: a + b, 2, 3)
    bad = executor.submit(lambda: 1 / 0)
    wait([ok, bad], timeout=10)
    assert ok.result() == 5
    assert isinstance(bad.exception(), ZeroDivisionError)
    executor.shutdown(wait=True)
    assert not busy_pools()


def test_the_installed_pyside_keeps_reference_counts_right(qapp):
    # PySide6 6.12.0 dropped a reference to True on every emit (and to None on every
    # QThreadPool.start), crashing the editor after a few thousand signals; pyproject excludes it.
    class Sender(QObject):
        ping = Signal(int)

    sender = Sender()
    sender.ping.connect(lambda n: None)
    pool = WorkerPool(1)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for i in range(200):
        sender.ping.emit(i)
        pool.run(lambda: None)
    pool.waitForDone()
    assert (sys.getrefcount(True), sys.getrefcount(None)) >= before
