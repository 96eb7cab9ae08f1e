"""Receive jobspecs in a loop and run each one, from Python (the seed's receive-job example).

    python3 examples/receive-jobspecs.py [TRANSFORMER]

Each jobspec here is generated in the loop; a real receiver would read them from
a queue, a socket or a spool folder (see `jobspec receive` and `jobspec enqueue`).
"""

from __future__ import annotations

import sys

from jobspec import JobspecError, get_transformer_registry

TEMPLATE = """
version: 1
resources:
- type: slot
  label: default
  count: 1
  with:
  - type: core
    count: 1
task:
  slot: default
  count:
    per_slot: 1
  transform:
  - step: write
    filename: job.sh
  - step: submit
    filename: job.sh
    wait: true
  scripts:
  - name: job.sh
    content: |
      #!/bin/sh
      echo "this is jobspec number {number}"
"""


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else "local"
    transformer = get_transformer_registry().get_plugin(name)()
    failures = 0
    for number in range(3):
        try:
            result = transformer.run(TEMPLATE.format(number=number))
        except JobspecError as e:  # bad input: report it and keep receiving
            print(e, file=sys.stderr)
            failures += 1
            continue
        failures += not result.ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
