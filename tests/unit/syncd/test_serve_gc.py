"""`syncd serve` tunes the garbage collector once started (docs/decisions.md 17):
start-up objects frozen, the young generation collected every 20,000
allocations."""

from __future__ import annotations

import asyncio
import gc

from syncd import cli


def test_serving_freezes_start_up_objects_and_collects_young_objects_less_often() -> None:
    thresholds = gc.get_threshold()
    try:
        asyncio.run(cli._freeze_startup_objects(None))  # type: ignore[arg-type]
        assert gc.get_threshold() == (cli.YOUNG_COLLECTION_EVERY, 20, 10)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
