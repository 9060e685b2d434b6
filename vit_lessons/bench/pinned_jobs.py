"""Benchmark jobs run under the same conditions: each a process of its own with one torch thread, pinned to
a CPU core of its own, ``workers`` at a time, a job starting once the job it needs has finished; a finished
job whose load or CPU share shows it did not have its core to itself (:func:`fair`) is run again.

Built in notebooks/11_self_supervised.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Callable
from dataclasses import dataclass

from ..train import log
from .small_data import fair  # the race's rule: one rule for every race

__all__ = ["Job", "fair", "machine_cores", "run_pinned_jobs", "pin"]


@dataclass
class Job:
    """One run of a benchmark.

    Args:
        key: its name in the results, e.g. ("finetune", 0, 600).
        start: ``start(results) -> (target, args)``, called when the job starts (``results`` holds every
            finished job's result by key); the child process runs ``target(*args, results_queue, key)``
            and puts ``(key, result dict)`` into the queue (an error as a string).
        needs: the key of a job that must have finished first, or None.
    """

    key: tuple
    start: Callable
    needs: tuple | None = None


def machine_cores() -> list[int]:
    """The CPU cores this process may run on."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def run_pinned_jobs(jobs: list[Job], workers: int = 2, max_load: float | None = None, min_cpu_share: float = 0.9,
                    tries: int = 3, on_result: Callable | None = None, done: dict | None = None) -> tuple[dict, list]:
    """Run ``jobs`` (in order, as their needs allow), ``workers`` at a time, each pinned to its own core.

    ``done``: results already there, by key (reused, not run). ``on_result(key, result)`` is called as each
    job finishes fairly (or unfairly after ``tries`` attempts: then ``result['unfair']`` says why). Returns
    (results by key, the discarded unfair results).
    """
    cores = machine_cores()
    if not 1 <= workers <= len(cores):
        raise ValueError(f"--workers must be between 1 and the {len(cores)} cores this process may use, got {workers}")
    max_load = (os.cpu_count() or len(cores)) + 0.5 if max_load is None else max_load
    results, attempts, discarded = dict(done or {}), {}, []
    pending = [j for j in jobs if j.key not in results]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    running = {}  # core -> (job, process)
    while pending or running:
        for core in [c for c in cores[:workers] if c not in running]:
            job = next((j for j in pending if j.needs is None or j.needs in results), None)
            if job is None:
                break
            pending.remove(job)
            target, args = job.start(results)
            p = ctx.Process(target=target, args=(core, *args, q, job.key))
            p.start()
            running[core] = (job, p)
            log.info(f"started {job.key} on core {core}")
        if not running:
            if pending:
                raise RuntimeError(f"jobs wait for jobs that never ran: {[j.key for j in pending]}")
            continue
        try:
            key, res = q.get(timeout=5)
        except queue.Empty:  # a child killed from outside (out of memory, a signal) never reports
            dead = [(j.key, p.exitcode) for j, p in running.values() if p.exitcode not in (None, 0)]
            if dead:
                for _, p in running.values():
                    p.terminate()
                raise RuntimeError(f"runs died without a result ({dead}); finished runs are kept, run the same "
                                   "command again to continue") from None
            continue
        core = next(c for c, (j, _) in running.items() if j.key == key)
        job, proc = running.pop(core)
        proc.join()
        if isinstance(res, str):
            for _, p in running.values():
                p.terminate()
            raise RuntimeError(f"run {key} failed: {res}")
        why = fair(res, max_load, min_cpu_share)
        if why:
            attempts[key] = attempts.get(key, 0) + 1
            discarded.append(res | {"discarded": why})
            log.info(f"discarded {key}: {why}" + ("; running it again" if attempts[key] < tries else
                                                   "; kept after the last try"))
            if attempts[key] < tries:
                pending.insert(0, job)
                continue
            res["unfair"] = why
        results[key] = res
        if on_result:
            on_result(key, res)
    return results, discarded


def pin(core: int) -> None:
    """Run this process on ``core`` only, with one torch thread."""
    import torch

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
