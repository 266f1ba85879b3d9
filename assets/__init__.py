"""hermit's assets. Importing the package sets the allocator options its steps rely on."""

import os
import sys

# polars allocates through its own jemalloc, which by default keeps freed pages for ~10 s
# before giving them back: a streaming step's peak then carries the pages of chunks long
# gone (the spill's windows, the writer's row groups). Keep them 1 s: at 10M dns records
# the write phase peaked at 1456 MiB with the default, 1153 with 1 s, 1127 with 0 s, but
# returning them at once cost 29% more cpu (page faults), 1 s cost ~10%. jemalloc reads
# this when polars loads, so it must be set before the first `import polars` of the process,
# which in every hermit process (Dagster code location, run workers, bench, tests) comes
# through this package; an option given in the environment wins.
if "polars" not in sys.modules:
    os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:1000,muzzy_decay_ms:0")
