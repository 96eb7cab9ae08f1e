"""The Flux transformer: jobs as Flux jobs, through the Python bindings or the flux command.

What it decides is kept in pure modules, tested against Flux's own schemas:

- `jobspec_v1`: the Flux jobspec (RFC 25, version 1) of a submit or batch step;
- `commands`: the ``flux`` command lines (the same job by hand, staging, the life cycle);
- `jobids`: Flux job ids (RFC 19 F58, ``ƒ...``);
- `outcome`: a job's state from its eventlog or result.

`client` is the thin layer that talks to Flux; `transformer` puts the steps together.
"""
