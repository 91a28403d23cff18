"""The served process's heap: what the cyclic garbage collector need not look at again.

A Patron process holds about 170,000 objects after start (FastAPI, Pydantic, SQLAlchemy,
Jinja and our own modules), and every full collection walks all of them: 110-220 ms on the
2-core bench machine, during which the event loop answers nothing. Under load a worker runs
one about every second, and those pauses were the whole p99 tail of the API (ADR 23).
Objects that exist when the process has started live until it exits, so they are moved to
the permanent generation once: the collector no longer walks them, and a full collection
takes 1-4 ms. Reference counting still frees them as before; only cycles among them would
stay, and start-up objects are not garbage.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what start-up left over, then freeze the rest; the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
