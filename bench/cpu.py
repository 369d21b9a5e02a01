"""CPU seconds spent by this process, its finished children, PostgreSQL and the Kafka broker (Linux
/proc), so a benchmark can say where a run's time went, not only how long it took."""

from __future__ import annotations

import os
import resource
import time


def _proc_cpu() -> dict[str, float]:
    tick = os.sysconf("SC_CLK_TCK")
    totals = {"postgresql": 0.0, "kafka": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        # utime, stime and the reaped children's (PostgreSQL backends that exited count in the postmaster)
        seconds = sum(int(x) for x in fields[11:15]) / tick
        if name.startswith("postgres"):
            totals["postgresql"] += seconds
        elif name == "java":
            totals["kafka"] += seconds
    return totals


def snapshot() -> dict[str, float]:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "this_process": time.process_time(),
        "worker_processes": children.ru_utime + children.ru_stime,
        **_proc_cpu(),
        "wall": time.perf_counter(),
    }


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before[k], 1) for k in before}


def machine_speed_seconds(iterations: int = 10_000_000) -> float:
    """Seconds a fixed pure-Python loop takes now, best of three. On a shared virtual machine the same
    code runs up to ~1.5x slower from one minute to the next (seen on this one: 1.29 s to 2.23 s for
    the same loop); a result is read against the speed measured around it."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for i in range(iterations):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)
