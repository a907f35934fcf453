"""Process-wide runtime settings shared by Rookery's long-running processes and its benchmarks."""

from __future__ import annotations

import gc
from typing import Final

# Transforming one Withings response allocates thousands of short-lived pydantic objects (three
# tracked objects per model). CPython's default first-generation threshold (700) then runs the
# collector thousands of times per response for nothing: it was 18-35 % of transform time. A
# larger threshold keeps memory bounded (one response's objects) and collects far less often.
GC_THRESHOLDS: Final = (50_000, 50, 100)


def tune_gc() -> None:
    """Settle the collector for a long-running process; call once, after imports.

    Freezing moves everything imported so far (modules, tables, compiled validators) out of the
    collector's sight: it lives as long as the process and would only be scanned again and again.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
