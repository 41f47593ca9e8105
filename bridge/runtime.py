"""What a long-running bridge asks of the Python runtime: the cyclic garbage collector's pace.

CPython's defaults (a young collection every 700 allocations, `(700, 10, 10)`) suit short
scripts. A bridge holds many long-lived objects (every live call, the directory, the imported
libraries) and allocates in bursts (a List page of 5,000 calls is some 100,000 objects): at the
default pace it collected several times per page and promoted the page's own short-lived
objects, so that the older generations were walked again and again. Profiled on
`bench/list_latency.py` (issue 28): the collector took a third of a `count=5000` page.
"""

from __future__ import annotations

import gc

# Young collections every 10,000 allocations: a page's objects mostly die before one. The older
# generations keep CPython's own ratio, and CPython still walks the oldest only once the
# objects waiting for it reach a quarter of those already in it.
GC_THRESHOLD = (10_000, 10, 10)


def tune_gc() -> None:
    """Sets the collector's pace and moves what exists now (the imported libraries, the
    config) out of its sight for good (`gc.freeze`): they live as long as the process.
    Called once, before the bridge starts (and by the benchmarks that measure its path)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
