"""The cyclic garbage collector, set for services that hold large working sets.

CPython's default thresholds start a full collection once the objects that survived since the last one
reach a quarter of all long-lived objects. A bulk import or a batch of events keeps tens of thousands of
rows, models and envelopes alive for a while, so full collections came again and again, each walking the
whole heap (measured in `shared/DECISIONS.md` §8). Objects are still
freed by reference counting the moment they are dropped; only cyclic garbage waits longer.
"""

from __future__ import annotations

import gc
import os

# (young, middle, old): collect the young generation every 10,000 net allocations instead of 700, and
# the whole heap at most every 100 middle collections instead of 10.
THRESHOLDS = (10_000, 10, 100)

_frozen = False


def tune_garbage_collector() -> None:
    """Called when a service process starts serving: what start-up built (modules, classes, schemas)
    lives as long as the process, so it moves to the permanent generation that collections never walk;
    later objects are collected with `THRESHOLDS`. Once per process (a test run starts many apps)."""
    global _frozen
    if os.environ.get("GC_THRESHOLDS"):  # for benchmarks comparing settings: "700,10,10" is CPython's
        gc.set_threshold(*(int(x) for x in os.environ["GC_THRESHOLDS"].split(",")))
        return
    gc.set_threshold(*THRESHOLDS)
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
