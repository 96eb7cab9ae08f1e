"""A stand-in ``flux`` command for unit tests of jobspec's process handling.

It is NOT Flux and proves nothing about Flux: it runs each submitted job's tasks
at once as local processes, one after another, and keeps a job's eventlog and
output in a folder. It answers only the subcommands jobspec's command client uses,
in the forms it uses them, so tests can check what jobspec sends (argv, the jobspec
JSON on stdin), and how it handles ids, exit codes, output, rejections and staging.
The real checks against Flux are the integration tests (marked ``flux``).

State lives in $FAKE_FLUX_DIR. $FAKE_FLUX_SIZE (default 4) is the instance size;
$FAKE_FLUX_MAX_NODES (default 4) the most nodes a job may ask for; a job named
$FAKE_FLUX_REFUSE_NAME is refused too. With
$FAKE_FLUX_SEPARATE_NODES=1, ``flux exec`` on rank r > 0 sees every path under
$FAKE_FLUX_STAGE_ROOT moved to $FAKE_FLUX_DIR/rank<r>/..., as if each node had
its own file system. With $FAKE_FLUX_ARCHIVE_FAIL=1, ``flux archive create`` leaves
a part of the archive behind and fails.

Two things are modelled on flux-core 0.88 because jobspec must get them right:
options are read the way liboptparse reads them (glibc getopt, POSIXLY_CORRECT:
``--`` ends the options, the first other non-option too, ``-C..`` is ``-C ..``,
the last value of an option wins), and the job shell renders ``{{...}}``
templates in command arguments and output paths as src/shell/mustache.c does (no
escape; a tag it does not know stays as written).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
STATE = Path(os.environ["FAKE_FLUX_DIR"])
SIZE = int(os.environ.get("FAKE_FLUX_SIZE", "4"))


def f58(n: int) -> str:
    digits = ""
    while True:
        n, r = divmod(n, 58)
        digits = ALPHABET[r] + digits
        if n == 0:
            return "ƒ" + digits


def parse_id(text: str) -> int:
    if text[0] in "ƒf":
        value = 0
        for c in text[1:]:
            value = value * 58 + ALPHABET.index(c)
        return value
    return int(text)


def job_dir(job_id: int) -> Path:
    return STATE / "jobs" / str(job_id)


def die(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def event(name: str, **context: Any) -> str:
    return json.dumps({"timestamp": time.time(), "name": name, "context": context})


# the short options of flux archive / filemap / exec that take a value, and their long names
SHORT = {"C": "directory", "n": "name", "T": "tags", "r": "rank", "x": "exclude", "d": "dir"}
SHORT_FLAGS = {"f": "force", "v": "verbose"}


def options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Options and operands, as liboptparse (glibc getopt, POSIXLY_CORRECT) reads them."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return opts, argv[i + 1 :]
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            opts[key] = value
        elif arg.startswith("-") and len(arg) > 1:
            flag = arg[1]
            if flag in SHORT:
                if len(arg) > 2:
                    opts[SHORT[flag]] = arg[2:]
                else:
                    i += 1
                    opts[SHORT[flag]] = argv[i]
            elif flag in SHORT_FLAGS:
                opts[SHORT_FLAGS[flag]] = ""
            else:
                die(f"flux: unrecognized option '-{flag}'")
        else:
            return opts, argv[i:]
        i += 1
    return opts, []


def render(template: str, tags: dict[str, str]) -> str:
    """src/shell/mustache.c mustache_render: each {{NAME}} a known tag, else left as written."""
    out, pos = "", 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            return out + template[pos:]
        out += template[pos:start]
        end = template.find("}}", start + 2)
        if end < 0:
            return out + template[start:]
        name = template[start + 2 : end]
        out += tags.get(name, "{{" + name + "}}")
        pos = end + 2


def shell_tags(job_id: int, spec: dict[str, Any], ntasks: int, rank: int | None, tmpdir: Path) -> dict[str, str]:
    """Some of the tags flux-core's job shell knows (shell.c mustache_cb, tmpdir.c)."""
    name = spec["attributes"]["system"].get("job", {}).get("name", "")
    tags = {"id": f58(job_id), "jobid": f58(job_id), "id.f58": f58(job_id), "id.dec": str(job_id)}
    tags |= {"jobid.dec": str(job_id), "name": name, "size": str(ntasks), "ntasks": str(ntasks)}
    tags |= {"nnodes": "1", "tmpdir": str(tmpdir)}
    if rank is not None:
        tags |= {"taskid": str(rank), "task.id": str(rank), "task.rank": str(rank)}
    return tags


def nodes_asked(spec: dict[str, Any]) -> int:
    root = spec["resources"][0]
    return int(root["count"]) if root["type"] == "node" else 1


def run_job(job_id: int, spec: dict[str, Any]) -> None:
    folder = job_dir(job_id)
    system = spec["attributes"]["system"]
    events = [event("submit"), event("validate")]
    for dep in system.get("dependencies") or []:
        parent = job_dir(parse_id(dep["value"]))
        status = json.loads((parent / "result.json").read_text()) if (parent / "result.json").exists() else None
        if dep["scheme"] == "afterok" and (status is None or status["waitstatus"] != 0):
            events += [
                event("exception", type="dependency", severity=0, note=f"dependency {dep['value']} failed"),
                event("clean"),
            ]
            (folder / "eventlog").write_text("\n".join(events) + "\n")
            return
    task = spec["tasks"][0]
    count = task["count"]
    slots = 1
    for vertex in _path_to_slot(spec["resources"]):
        slots *= int(vertex["count"])
    ntasks = count["total"] if "total" in count else count["per_slot"] * slots
    command = task["command"]
    if command[:2] == ["flux", "broker"]:  # a batch job: the script, once
        script = folder / "script"
        script.write_text(system["files"]["script"]["data"])
        script.chmod(0o700)
        command, ntasks = [str(script)], 1
    tmpdir = folder / "tmp"
    tmpdir.mkdir()
    output = system.get("shell", {}).get("options", {}).get("output", {})
    tags = shell_tags(job_id, spec, ntasks, None, tmpdir)
    out_path = render(output.get("stdout", {}).get("path", str(folder / "stdout")), tags)
    err_path = render(output.get("stderr", {}).get("path", str(folder / "stderr")), tags)
    events += [event("alloc"), event("start")]
    worst = 0
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        for rank in range(ntasks):
            env = {
                **system["environment"],
                "FLUX_TASK_RANK": str(rank),
                "FLUX_JOB_SIZE": str(ntasks),
                "FLUX_JOB_ID": f58(job_id),
            }
            argv = [render(a, shell_tags(job_id, spec, ntasks, rank, tmpdir)) for a in command]
            done = subprocess.run(argv, cwd=system["cwd"], env=env, stdout=out, stderr=err)
            worst = max(worst, done.returncode)
    waitstatus = worst << 8
    (folder / "result.json").write_text(json.dumps({"waitstatus": waitstatus}))
    (folder / "paths.json").write_text(json.dumps({"stdout": out_path, "stderr": err_path}))
    events += [event("finish", status=waitstatus), event("release"), event("free"), event("clean")]
    (folder / "eventlog").write_text("\n".join(events) + "\n")


def _path_to_slot(vertices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for v in vertices:
        if v["type"] == "slot":
            return [v]
        below = _path_to_slot(v.get("with") or [])
        if below:
            return [v, *below]
    return []


def job_submit(argv: list[str]) -> None:
    spec = json.loads(sys.stdin.read())
    refused = os.environ.get("FAKE_FLUX_REFUSE_NAME")
    name = spec["attributes"]["system"].get("job", {}).get("name")
    if nodes_asked(spec) > int(os.environ.get("FAKE_FLUX_MAX_NODES", "4")) or (refused and name == refused):
        die("flux-job: Unsatisfiable request")
    counter = STATE / "counter"
    job_id = (int(counter.read_text()) if counter.exists() else 1000) + 1
    counter.write_text(str(job_id))
    folder = job_dir(job_id)
    folder.mkdir(parents=True)
    (folder / "jobspec.json").write_text(json.dumps(spec))
    run_job(job_id, spec)
    print(f58(job_id))


def known(text: str) -> int:
    job_id = parse_id(text)
    if not job_dir(job_id).is_dir():
        die(f"flux-job: job {text} not found")
    return job_id


def main(argv: list[str]) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "calls.jsonl", "a") as fh:
        fh.write(json.dumps(argv) + "\n")
    if argv[:2] == ["job", "submit"]:
        job_submit(argv[2:])
    elif argv[:2] == ["job", "eventlog"]:
        _, rest = options(argv[2:])
        sys.stdout.write((job_dir(known(rest[0])) / "eventlog").read_text())
    elif argv[:2] == ["job", "wait-event"]:
        opts, rest = options(argv[2:])
        folder = job_dir(known(rest[0]))
        if "verbose" in opts:  # (every job here has ended: the whole eventlog)
            sys.stdout.write((folder / "eventlog").read_text())
    elif argv[:2] == ["job", "attach"]:
        _, rest = options(argv[2:])
        folder = job_dir(known(rest[0]))
        paths = json.loads((folder / "paths.json").read_text()) if (folder / "paths.json").exists() else {}
        if paths:
            sys.stdout.write(Path(paths["stdout"]).read_text())
            sys.stderr.write(Path(paths["stderr"]).read_text())
        result = json.loads((folder / "result.json").read_text()) if (folder / "result.json").exists() else None
        sys.exit((result["waitstatus"] >> 8) if result else 1)
    elif argv[:2] == ["job", "info"]:
        sys.stdout.write((job_dir(known(argv[2])) / "jobspec.json").read_text())
    elif argv[0] == "jobs":
        ids = sorted((int(p.name) for p in (STATE / "jobs").iterdir()), reverse=True)
        print("\n".join(str(i) for i in ids))
    elif argv[0] == "cancel":
        known(argv[-1])  # after its options (--message=...)
    elif argv[0] == "getattr":
        print({"rank": 0, "size": SIZE}[argv[1]])
    elif argv[:2] == ["archive", "create"]:
        opts, paths = options(argv[2:])
        if not paths:
            die("Usage: flux-archive create [-n NAME] [-C DIR] [--preserve] PATH ...")
        target = STATE / "archives" / opts.get("name", "main")
        if target.exists():
            die(f"flux-archive: archive.{target.name} exists")
        target.mkdir(parents=True)
        if os.environ.get("FAKE_FLUX_ARCHIVE_FAIL") == "1":
            die("flux-archive: kvs commit: Function not implemented")
        for p in paths:
            src = Path(opts.get("directory", ".")) / p
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, target / p)
    elif argv[:2] == ["archive", "extract"]:
        opts, _ = options(argv[2:])
        shutil.copytree(STATE / "archives" / opts["name"], opts["directory"], dirs_exist_ok=True)
    elif argv[:2] == ["archive", "remove"]:
        opts, _ = options(argv[2:])
        shutil.rmtree(STATE / "archives" / opts["name"], ignore_errors=True)
    elif argv[0] == "exec":
        opts, command = options(argv[1:])
        exclude = {int(opts["exclude"])} if "exclude" in opts else set()
        worst = 0
        for rank in range(SIZE):
            if rank in exclude:
                continue
            cmd = list(command)
            root = os.environ.get("FAKE_FLUX_STAGE_ROOT")
            if os.environ.get("FAKE_FLUX_SEPARATE_NODES") == "1" and root and rank > 0:
                cmd = [a.replace(root, f"{STATE}/rank{rank}{root}") for a in cmd]
            worst = max(worst, subprocess.run(cmd).returncode)
        sys.exit(worst)
    else:
        die(f"flux: `{argv[0]}' is not a flux command.  See 'flux --help'")


if __name__ == "__main__":
    main(sys.argv[1:])
