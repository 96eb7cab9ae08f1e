"""The Flux transformer beside the flux commands a user would type (issue 4).

    python bench/flux_cases.py            # starts its own 4-broker test instance (4 x 8 cores, faked)

Finds flux-core as the tests do (tests/flux_install.py: PATH, $FLUX_PREFIX, /opt/flux).

- `jobspec run -t flux` of the original 0.0.12 hello-world example beside one `flux submit
  -N4 -n4 -c4` of the same job (issue 12's target: at most 0.8x its time; and at most half
  the time of jobspec 0.0.12, timed too when JOBSPEC_SEED_BIN names a folder holding that
  version's `jobspec` command);
- a jobspec with five submit steps beside five `flux submit` commands;
- 500 jobspecs through the library (FluxTransformer.run_many, one Python process)
  beside 500 `flux submit` commands (target: at least 400 jobs/s submitted).

Without flux-core it prints why and does nothing.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import BIN, ONE_TASK_JOBSPEC, ROOT, rate_row, side_by_side, time_command

SHARED = Path(os.environ.get("JOBSPEC_SHARED_DIR", ROOT.parent / "shared"))
ORIGINAL_HELLO = SHARED / "seed" / "examples" / "hello-world-jobspec.yaml"
sys.path.insert(0, str(ROOT / "tests"))  # the Flux finder the tests use

SUBMIT = "  - {step: submit, filename: job.sh}\n"


def small(submits: int) -> str:
    """The benches' one-task jobspec with ``submits`` submit steps."""
    return ONE_TASK_JOBSPEC.replace(SUBMIT, SUBMIT * submits)


def by_hand(path: Path, stage: str) -> list[list[str]]:
    """The `flux submit` command of each job step of ``path``, as a user would type it."""
    from jobspec import load
    from jobspec.plugin import script_command
    from jobspec.transformers.flux import command_lines
    from jobspec.transformers.flux.jobspec_v1 import submit_job

    js = load(path)
    argvs = []
    for step in js.transform:
        if step["step"] == "submit":
            name = step["filename"]
            command = script_command(f"{stage}/{name}", js.scripts[name]["content"])
            argvs.append(command_lines.submit_argv(submit_job(js, command, stage=stage, filename=name)))
    return argvs


def main() -> None:
    import flux_install

    found = flux_install.find()
    if found is None:
        print(f"bench/flux_cases.py: skipped: {flux_install.NOT_FOUND}")
        return
    flux_install.activate(found)
    flux = str(found.command)
    with tempfile.TemporaryDirectory() as name:
        instance = flux_install.start_instance(flux, Path(name) / "instance")
        os.environ["FLUX_URI"] = instance.uri
        print(f"{found.describe()}; a 4-broker test instance, 4 x 8 cores (faked)", flush=True)
        try:
            cases(flux)
        finally:
            instance.stop()


def cases(flux: str) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ)
        stage = tmp / "stage"
        stage.mkdir()
        for name in ("job.sh",):
            (stage / name).write_text("#!/bin/bash\necho hello world from $(hostname)\n")
        jobspec = [str(BIN / "jobspec"), "run", "-t", "flux"]
        quiet = {"env": env}

        # 1. the original hello world
        (hand,) = by_hand(ORIGINAL_HELLO, str(stage))
        side_by_side(
            "jobspec run hello-world-jobspec.yaml",
            lambda: time_command([*jobspec, str(ORIGINAL_HELLO)], **quiet),
            lambda: time_command(hand, **quiet),
            "flux submit (same job)",
        )
        original_bin = os.environ.get("JOBSPEC_SEED_BIN")
        if original_bin:
            side_by_side(
                "jobspec run hello-world-jobspec.yaml",
                lambda: time_command([*jobspec, str(ORIGINAL_HELLO)], **quiet),
                lambda: time_command([str(Path(original_bin) / "jobspec"), "run", str(ORIGINAL_HELLO)], **quiet),
                "jobspec 0.0.12 run",
            )
        else:
            print("(set JOBSPEC_SEED_BIN to the bin folder of jobspec 0.0.12 to time it beside this one)")

        # 2. five submit steps beside five flux submit commands
        five = tmp / "five.yaml"
        five.write_text(small(5))
        hands = by_hand(five, str(stage))
        side_by_side(
            "jobspec run (five submit steps)",
            lambda: time_command([*jobspec, str(five)], **quiet),
            lambda: sum(time_command(argv, **quiet) for argv in hands),
            "5 x flux submit",
            repeat=10,
        )

        # 3. 500 jobspecs from one Python process beside 500 flux submit commands
        from jobspec.transformers.flux.transformer import FluxTransformer

        paths = []
        for i in range(500):
            path = tmp / f"many-{i}.yaml"
            path.write_text(small(1))
            paths.append(path)
        flux_transformer = FluxTransformer()
        flux_transformer.run_many(paths[:20], workers=32)  # warm up: imports, connections
        started = time.perf_counter()
        results = flux_transformer.run_many(paths, workers=32)
        library = len(paths) / (time.perf_counter() - started)
        failed = [r.error for r in results if not r.ok]
        if failed:
            print(f"bench/flux_cases.py: {len(failed)} of 500 failed, e.g. {failed[0]}")
        (one,) = by_hand(paths[0], str(stage))
        started = time.perf_counter()
        for _ in range(500):
            subprocess.run(one, check=True, stdout=subprocess.DEVNULL, env=env)
        by_command = 500 / (time.perf_counter() - started)
        rate_row("500 jobspecs, FluxTransformer.run_many", library, "500 x flux submit", by_command)
        print(f"(by hand: {shlex.join(one)[:120]}...)")
        subprocess.run([flux, "cancel", "--all", "--quiet"], env=env, check=False)


if __name__ == "__main__":
    main()
