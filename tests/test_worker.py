"""worker.py's process set-up: the garbage collector."""

from __future__ import annotations

import gc

import worker


def test_tune_gc_freezes_start_up_objects_and_sets_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        worker.tune_gc()
        assert gc.get_threshold() == worker.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
