"""The Flux transformer: jobs as Flux jobs, through the Python bindings or the flux command.

What it decides is kept in pure modules, tested against Flux's own schemas:

- `jobspec_v1`: the Flux jobspec (RFC 25, version 1) of a submit or batch step;
- `command_lines`: the ``flux`` command lines as argv lists (the same job by hand,
  staging, the life cycle); it runs nothing;
- `jobids`: Flux job ids (RFC 19 F58, ``ƒ...``);
- `outcome`: a job's state from its eventlog or result;
- `rfc25`: a plain Flux jobspec checked as Flux checks it (``jobspec validate -t flux --native``).

`client` is the thin layer that talks to Flux (and runs those command lines);
`transformer` puts the steps together on the plugin contract.
"""
