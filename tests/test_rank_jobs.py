"""Standalone jobs of a ranking study: resume job by job, several workers never train one job
twice, a dead worker's job is taken over."""

import json
import multiprocessing as mp
import os
import signal
import time

import pytest

from mlpnas.rank import Job, claimed, make_jobs, read_result, run_jobs, worker_order
from mlpnas.rank._jobs import LOG


def _log_lines(root):
    path = root / LOG
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _fake_train(job, folder):
    time.sleep(0.05)
    return {"val_acc": 0.5 + 0.01 * job.seed}


def test_jobs_are_seed_major_and_workers_start_apart():
    jobs = make_jobs(["a", "b", "c"], 2)
    assert jobs == [Job("a", 0), Job("b", 0), Job("c", 0), Job("a", 1), Job("b", 1), Job("c", 1)]
    assert worker_order(jobs, 0) == jobs
    one = worker_order(jobs, 1)
    assert sorted(one) == sorted(jobs) and one[0] != jobs[0]


def test_every_job_runs_once_and_a_second_call_trains_nothing(tmp_path):
    jobs = make_jobs(["a", "b", "c"], 2)
    done = run_jobs(jobs, tmp_path, _fake_train, log=lambda m: None)
    assert done == (6, 0)
    assert all(read_result(tmp_path, j)["val_acc"] == 0.5 + 0.01 * j.seed for j in jobs)
    assert run_jobs(jobs, tmp_path, _fake_train, log=lambda m: None) == (0, 0)
    assert sorted((r["arch"], r["seed"]) for r in _log_lines(tmp_path)) == sorted(jobs)


def test_an_interrupted_call_loses_at_most_the_job_in_flight(tmp_path):
    jobs = make_jobs(["a", "b", "c", "d"], 1)
    calls = []

    def dies_on_the_third(job, folder):
        calls.append(job)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return {"val_acc": 1.0}

    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, tmp_path, dies_on_the_third, log=lambda m: None)
    assert [read_result(tmp_path, j) is not None for j in jobs] == [True, True, False, False]
    again = []
    run_jobs(jobs, tmp_path, lambda j, f: again.append(j) or {"val_acc": 1.0},
             log=lambda m: None)
    assert again == jobs[2:]  # only what had no result yet


def test_max_jobs_stops_early_and_says_how_many_are_left(tmp_path):
    jobs = make_jobs(["a", "b", "c"], 1)
    assert run_jobs(jobs, tmp_path, _fake_train, log=lambda m: None, max_jobs=2) == (2, 1)
    assert run_jobs(jobs, tmp_path, _fake_train, log=lambda m: None) == (1, 0)


def _worker(root, worker, start):
    while time.time() < start:  # start together
        time.sleep(0.005)
    run_jobs(make_jobs([f"k{i}" for i in range(8)], 2), root, _fake_train, worker=worker,
             log=lambda m: None, poll_s=0.05)


def test_two_worker_processes_split_the_jobs_without_doing_one_twice(tmp_path):
    ctx = mp.get_context("spawn")
    start = time.time() + 2.0
    procs = [ctx.Process(target=_worker, args=(tmp_path, w, start)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = _log_lines(tmp_path)
    trained = [(r["arch"], r["seed"]) for r in lines]
    assert len(trained) == 16 and len(set(trained)) == 16  # every job exactly once
    assert {r["worker"] for r in lines} == {0, 1}          # and both did some


def _hold_lock(folder, ready):
    with claimed(folder) as mine:
        assert mine
        ready.set()
        time.sleep(60)


def test_a_job_held_by_a_dead_worker_is_taken_over(tmp_path):
    job = Job("a", 0)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(job.folder(tmp_path), ready))
    holder.start()
    assert ready.wait(30)
    with claimed(job.folder(tmp_path)) as mine:
        assert not mine  # a live holder keeps it
    assert run_jobs([job], tmp_path, _fake_train, log=lambda m: None, wait=False) == (0, 1)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    assert run_jobs([job], tmp_path, _fake_train, log=lambda m: None) == (1, 0)
