"""Where a sweep's jobs run, all behind one small interface: `run(jobs)` yields (job, summary)
as each job ends, a summary holding "error" for a failed job; no job's failure stops the others.

- ProcessPool (the default): a local pool of worker processes, one job at a time each. Workers
  fork from a server that has already imported the replay code, so starting one is cheap.
- RayTasks (`--ray`, or RAY_ADDRESS set): one Ray task per job, on a local Ray (`ray.init()`
  with no address) or the cluster at RAY_ADDRESS. Tasks return only the small summary; each
  job's database stays where its worker wrote it (the job's db_path), so on a real cluster the
  sweep's output folder must be shared storage mounted at the same path on every node, and the
  project installed on every node (`pip install -e '.[ray]'`).
- InProcess: jobs one after another in this process (tests, and a reference run).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from autotrader.errors import ConfigError
from autotrader.sweep.plan import Job

Summary = dict[str, Any]
PR_SET_PDEATHSIG = 1  # linux/prctl.h
WORKER_DEATHS_ALLOWED = 1  # a job whose worker died is tried once more, then reported failed
STOP_GRACE_SECS = 10.0  # for running replays to reach the end of their cycle on Ctrl-C


class Backend(Protocol):
    name: str
    workers: int

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Summary]]: ...

    def stop(self) -> None: ...  # on Ctrl-C: running replays stop after their cycle

    def close(self) -> None: ...


# Process-wide flags, as signals are: this process is a pool worker; it is running a job; and
# Ctrl-C reached it (or a replay stopped on it), so it starts no further job.
_POOL_WORKER = threading.Event()
_IN_JOB = threading.Event()
_INTERRUPTED = threading.Event()


def _on_interrupt(signum: int, frame: object) -> None:
    """Ctrl-C in a pool worker outside the replay loop (which handles its own signals)."""
    _INTERRUPTED.set()
    if _IN_JOB.is_set():  # booting or summarizing: the job ends as interrupted, resumable
        raise KeyboardInterrupt


def run_in_worker(job: Job) -> Summary:
    """The task body for every backend: the replay code is imported here, in the worker."""
    from autotrader.sweep.job import run_job

    if _INTERRUPTED.is_set():
        return {"job_id": job.job_id, "error": "interrupted before it started; run it again"}
    _IN_JOB.set()
    try:
        summary = run_job(job)
        if str(summary.get("error", "")).startswith("JobInterrupted"):
            _INTERRUPTED.set()
        return summary
    finally:
        _IN_JOB.clear()
        # asyncio leaves SIGINT raising KeyboardInterrupt after a run: an idle pool worker
        # notes Ctrl-C (the sweep handles it) instead of dying with a traceback.
        if _POOL_WORKER.is_set():
            signal.signal(signal.SIGINT, _on_interrupt)


def _init_worker() -> None:
    _POOL_WORKER.set()
    signal.signal(signal.SIGINT, _on_interrupt)
    with contextlib.suppress(OSError, AttributeError):  # Linux only; elsewhere orphans finish
        # When the parent dies (a killed sweep), SIGTERM this worker: its replay stops after
        # the cycle, as with Ctrl-C, and is resumed by the next run of the sweep.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class InProcess:
    name = "in-process"
    workers = 1

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Summary]]:
        for job in jobs:
            yield job, run_in_worker(job)

    def stop(self) -> None:
        return None

    def close(self) -> None:
        return None


class ProcessPool:
    name = "process pool"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or len(os.sched_getaffinity(0))
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["autotrader.sweep.job"])
        self._pool = self._new_pool()
        self._futures: list[Future[Summary]] = []

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self._context, initializer=_init_worker)

    def warm_up(self) -> None:
        """Start every worker (and the import of the replay code) before timing anything."""
        list(self._pool.map(abs, range(self.workers * 2)))

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Summary]]:
        deaths: dict[str, int] = {}
        queue = list(jobs)
        while queue:
            futures: dict[Future[Summary], Job] = {
                self._pool.submit(run_in_worker, job): job for job in queue
            }
            self._futures = list(futures)
            queue = []
            for future in as_completed(futures):
                job = futures[future]
                try:
                    yield job, future.result()
                except BrokenProcessPool:  # a worker died (killed, out of memory, a crash)
                    deaths[job.job_id] = deaths.get(job.job_id, 0) + 1
                    if deaths[job.job_id] > WORKER_DEATHS_ALLOWED:
                        error = "the worker process died running this job, twice"
                        yield job, {"job_id": job.job_id, "error": error}
                    else:
                        queue.append(job)
            if queue:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()

    def stop(self) -> None:
        """Running replays stop after their cycle. Ctrl-C in a terminal reaches the workers
        too, and their replays stop by themselves; a signal to the sweep alone does not, so
        after a grace period the workers are asked (SIGTERM). A second signal to a replay would
        end it at once, which is why they are not asked straight away."""
        running = [future for future in self._futures if not future.done()]
        self._pool.shutdown(wait=False, cancel_futures=True)  # nothing new starts
        if wait(running, timeout=STOP_GRACE_SECS).not_done:
            processes = getattr(self._pool, "_processes", None) or {}  # no public API for this
            for process in list(processes.values()):
                with contextlib.suppress(OSError, ValueError):
                    process.terminate()
        self._pool.shutdown(wait=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayTasks:
    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        try:  # imported by name: typed as Any whether or not the extra is installed
            ray: Any = importlib.import_module("ray")
        except ImportError:
            raise ConfigError(
                "--ray (or RAY_ADDRESS) needs Ray: pip install -e '.[ray]'; "
                "or leave both out to use the local process pool"
            ) from None
        self._ray = ray
        address = address or os.environ.get("RAY_ADDRESS") or None
        cpus = (workers or len(os.sched_getaffinity(0))) if address is None else None
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,  # the replays' consoles stay in the workers
            logging_level=logging.WARNING,
            ignore_reinit_error=True,
            num_cpus=cpus,  # a local Ray gets the workers asked for; a cluster has its own
        )
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._task = ray.remote(num_cpus=1, max_retries=WORKER_DEATHS_ALLOWED)(run_in_worker)
        self._pending: dict[Any, Job] = {}

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Summary]]:
        pending = self._pending = {self._task.remote(job): job for job in jobs}
        while pending:
            done, _ = self._ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    yield job, self._ray.get(ref)
                except self._ray.exceptions.RayError as error:
                    text = str(error).strip().splitlines()
                    message = f"ray: {type(error).__name__}: {text[-1] if text else ''}"[:300]
                    yield job, {"job_id": job.job_id, "error": message}

    def stop(self) -> None:
        for ref in self._pending:
            self._ray.cancel(ref)  # SIGINT to a running task: its replay stops after the cycle

    def close(self) -> None:
        self._ray.shutdown()


def choose_backend(use_ray: bool, workers: int | None) -> Backend:
    if use_ray or os.environ.get("RAY_ADDRESS"):
        return RayTasks(workers)
    return ProcessPool(workers)
