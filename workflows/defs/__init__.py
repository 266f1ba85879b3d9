"""hermit's Dagster definitions, autoloaded by `dg` (`dg list defs`, `dg dev`): one module per
domain. `dg scaffold defs dagster.asset <name>.py` adds a module here and it loads with the rest;
resources and the executor are attached in workflows/definitions.py."""
