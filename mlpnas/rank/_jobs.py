"""Standalone training jobs of a ranking study, shared by any number of workers.

A job is one (architecture, seed) pair. Its folder holds the retraining run (checkpoints,
metrics) and, once finished, `result.json`. A worker claims a job by holding an exclusive
POSIX lock (`fcntl.lockf`) on the job's lock file while it trains it: the operating system
drops the lock when the process dies, however it dies, so a killed worker's job is taken
over by the next worker that comes by (and resumes from the job's last checkpoint), and two
live workers never train one job. POSIX locks also hold between machines on NFS (v3 with
lockd, v4), so workers on several machines can share a run folder there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .._io import write_json_atomic

RESULT = "result.json"
LOCK = ".lock"
LOG = "jobs.log"
GOLDEN = 0.6180339887498949


class Job(NamedTuple):
    key: str
    seed: int

    def folder(self, root: Path) -> Path:
        return Path(root) / self.key / f"seed{self.seed}"


def make_jobs(keys: Sequence[str], seeds: int) -> list[Job]:
    """Seed-major order: every architecture's seed 0, then seed 1, ...; a study stopped early
    has complete seeds to compare."""
    return [Job(k, s) for s in range(seeds) for k in keys]


def read_result(root: Path, job: Job) -> dict[str, Any] | None:
    """The job's result, or None while it has none; a result.json that is damaged or not of
    this shape (its accuracy and seconds finite numbers) counts as none, so the job is
    trained (or its finished checkpoint read) again rather than reported."""
    path = job.folder(root) / RESULT
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, unreadable, not JSON, not text
        return None
    if not isinstance(record, dict) or not all(
            _finite(record.get(k)) for k in ("val_acc", "seconds")):
        return None
    return record


def _finite(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def worker_order(jobs: Sequence[Job], worker: int) -> list[Job]:
    """The jobs rotated by a golden-ratio share per worker number, so that workers start far
    apart in the list and rarely reach for the same job."""
    if not jobs:
        return []
    start = int(len(jobs) * ((worker * GOLDEN) % 1.0))
    return list(jobs[start:]) + list(jobs[:start])


@contextlib.contextmanager
def claimed(folder: Path) -> Iterator[bool]:
    """Try to take the job in `folder`: yields True while this process holds its lock, False
    if another process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EAGAIN / EACCES: another process holds it
            yield False
            return
        try:
            yield True
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class JobsDone(NamedTuple):
    ran: int          # jobs this call trained
    remaining: int    # jobs without a result when it returned


def _append_log(root: Path, record: dict) -> None:
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(root / LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)  # one write with O_APPEND: lines of several workers never mix
    finally:
        os.close(fd)


def run_jobs(jobs: Sequence[Job], root: Path, train: Callable[[Job, Path], dict[str, Any]],
             worker: int = 0, log: Callable[[str], None] = print, max_jobs: int | None = None,
             wait: bool = True, poll_s: float = 5.0) -> JobsDone:
    """Train every job that has no result yet, skipping the ones other workers hold; then,
    with `wait`, wait for those (taking over any whose worker died). `train(job, folder)`
    trains one job into its folder and returns what goes into its result.json.
    `max_jobs` stops this call after that many trained jobs."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    order = worker_order(jobs, worker)
    ran, waited = 0, False
    while True:
        pending = [j for j in order if read_result(root, j) is None]
        if not pending:
            return JobsDone(ran, 0)
        busy = 0
        for job in pending:
            if max_jobs is not None and ran >= max_jobs:
                return JobsDone(ran, sum(read_result(root, j) is None for j in order))
            folder = job.folder(root)
            with claimed(folder) as mine:
                if not mine:
                    busy += 1
                    continue
                if read_result(root, job) is not None:  # finished meanwhile by another
                    continue
                done = sum(read_result(root, j) is not None for j in order)
                log(f"[{done + 1}/{len(order)}] training {job.key} seed {job.seed} "
                    f"(worker {worker})")
                t = time.perf_counter()
                record = dict(train(job, folder))
                record.update(arch=job.key, seed=job.seed, worker=worker,
                              host=socket.gethostname(), pid=os.getpid(),
                              seconds=round(time.perf_counter() - t, 1))
                write_json_atomic(folder / RESULT, record)
                _append_log(root, {k: record[k] for k in ("arch", "seed", "worker", "host",
                                                          "pid", "seconds")})
                ran += 1
        if not busy:
            continue  # every pending job was tried: look again at what is left
        left = sum(read_result(root, j) is None for j in order)
        if not wait or not left:
            if not wait:
                return JobsDone(ran, left)
            continue
        if not waited:
            log(f"waiting for the {left} job(s) other workers are training")
            waited = True
        time.sleep(poll_s)
