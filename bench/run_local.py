"""`jobspec run` of a one-submit jobspec on the local transformer beside running the same
script with bash directly.

    python bench/run_local.py

The jobspec waits for its job (wait: true), so both sides include running the script.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from timing import BIN, side_by_side, time_command

SCRIPT = "#!/bin/bash\necho hello world from $(hostname)\n"
JOBSPEC = f"""
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
  count: {{per_slot: 1}}
  transform:
  - {{step: write, filename: job.sh, executable: true}}
  - {{step: submit, filename: job.sh, wait: true}}
  scripts:
  - name: job.sh
    content: {json.dumps(SCRIPT)}
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one-submit.yaml"
        path.write_text(JOBSPEC)
        script = Path(tmp) / "job.sh"
        script.write_text(SCRIPT)
        env = {**os.environ, "JOBSPEC_STATE_DIR": str(Path(tmp) / "state")}
        side_by_side(
            "jobspec run (write + submit, wait)",
            lambda: time_command([str(BIN / "jobspec"), "run", "-t", "local", str(path)], env=env),
            lambda: time_command(["bash", str(script)]),
            "bash job.sh",
        )


if __name__ == "__main__":
    main()
