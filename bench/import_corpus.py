"""How well `jobspec import` does on real batch scripts: a random sample of a folder of them.

    python bench/import_corpus.py DIR [--kind sbatch|pbs|flux] [--sample N] [--seed S]

Imports each sampled script in-process and prints: the share imported without error, the
crashes (an exception other than a refusal: must be 0), the most common reasons for refusal,
and, for every imported script, whether the resource request of the jobspec (counted by
`jobspec.count_resources`) equals what the directives ask, read here independently (a plain
scan of the directive lines, with each scheduler's defaults). Every imported document is also
validated (`jobspec.load`). The corpus stays where it is: nothing of it is copied anywhere.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import shlex
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

MAGIC = {"sbatch": "#SBATCH", "pbs": "#PBS", "flux": "flux:"}


def find(root: Path, kind: str) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        try:
            head = path.read_bytes()
        except OSError:
            continue
        if kind == "flux":
            if re.search(rb"^[^\w\n]*(?:flux|FLUX):", head, re.M):
                out.append(path)
        elif re.search(rb"^" + MAGIC[kind].encode(), head, re.M):
            out.append(path)
    return out


def directive_words(text: str, magic: str) -> list[str]:
    """The words of the directive lines before the first command (shlex, comments dropped)."""
    words: list[str] = []
    for line in text.split("\n"):
        if line.startswith(magic):
            try:
                words += shlex.split(line[len(magic) :], comments=True)
            except ValueError:
                return words
        elif line.strip() and not line.strip().startswith("#"):
            break
    return words


def expected_slurm(words: list[str]) -> dict[str, Any]:
    """Nodes, tasks and cores per task as sbatch would set them from these words."""
    names = {"-N": "nodes", "-n": "ntasks", "-c": "cpus", "-t": "time"}
    longs = {"--nodes": "nodes", "--ntasks": "ntasks", "--ntasks-per-node": "per_node", "--tasks-per-node": "per_node"}
    longs |= {"--cpus-per-task": "cpus", "--time": "time"}
    got: dict[str, str] = {}
    for i, word in enumerate(words):
        name, eq, value = word.partition("=")
        key = longs.get(name) if name.startswith("--") else names.get(word[:2])
        if key is None:
            continue
        if not eq:
            value = (
                word[2:]
                if not word.startswith("--") and len(word) > 2
                else (words[i + 1] if i + 1 < len(words) else "")
            )
        got[key] = value
    nodes = int(got["nodes"].split("-")[0]) if "nodes" in got else None
    per_node = int(got["per_node"]) if "per_node" in got else None
    ntasks = int(got["ntasks"]) if "ntasks" in got else None
    if per_node and nodes is None:
        nodes = math.ceil(ntasks / per_node) if ntasks else 1
    if ntasks is None:
        ntasks = (nodes or 1) * (per_node or 1)
    return {"nodes": nodes, "tasks": ntasks, "cpus": int(got.get("cpus", 1))}


def expected_pbs(words: list[str]) -> dict[str, Any] | None:
    resources = ",".join(words[i + 1] for i, w in enumerate(words[:-1]) if w == "-l")
    nodes = re.search(r"(?:^|,)nodes=(\d+)(?::(?!ppn=)[A-Za-z]\w*)*(?::ppn=(\d+))?", resources)
    select = re.search(r"(?:^|,)select=(\d+)((?::\w+=[^:,]+)*)", resources)
    if nodes:
        n, ppn = int(nodes.group(1)), int(nodes.group(2) or 1)
        return {"nodes": n, "tasks": n * ppn, "cpus": 1}
    if select:
        fields = dict(re.findall(r":(\w+)=([^:,]+)", select.group(2)))
        n, procs = int(select.group(1)), int(fields.get("mpiprocs", 1))
        return {"nodes": n, "tasks": n * procs, "cpus": int(fields.get("ncpus", procs)) // procs}
    return None


def reason(message: str) -> str:
    """A refusal's message with its particulars taken out, so like reasons count together."""
    text = re.sub(r"^\S+:\d+:\d+: |^<command line>: ", "", message)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    return re.sub(r"\d+", "N", text)[:110]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--kind", choices=sorted(MAGIC), default="sbatch")
    p.add_argument("--sample", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--show", type=int, default=5, help="examples of mismatches to print")
    args = p.parse_args(argv)

    import jobspec
    from jobspec.document.problems import JobspecError
    from jobspec.importing import import_script

    files = find(args.dir, args.kind)
    sample = random.Random(args.seed).sample(files, min(args.sample, len(files)))
    ok = crashes = equal = compared = 0
    reasons: Counter[str] = Counter()
    mismatches: list[str] = []
    for path in sample:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
            imported = import_script(text, str(path))
            js = jobspec.load(imported.document)
        except UnicodeDecodeError:
            reasons["not UTF-8 text"] += 1
            continue
        except JobspecError as e:
            reasons[reason(str(e.problems[0]))] += 1
            continue
        except Exception:
            crashes += 1
            print(f"CRASH {path}\n{traceback.format_exc()}", file=sys.stderr)
            continue
        ok += 1
        counts = js.counts
        got = {"nodes": counts.nodes, "tasks": counts.tasks, "cpus": counts.cores_per_task}
        if args.kind == "sbatch":
            want: dict[str, Any] | None = expected_slurm(directive_words(text, "#SBATCH"))
        elif args.kind == "pbs":
            want = expected_pbs(directive_words(text, "#PBS"))
        else:
            want = None
        if want is None:
            continue
        compared += 1
        if want == got:
            equal += 1
        elif len(mismatches) < args.show:
            mismatches.append(f"{path}: directives {want}, jobspec {got}")
    n = len(sample)
    print(f"{args.kind}: {len(files)} scripts found, {n} sampled (seed {args.seed})")
    print(f"imported without error: {ok}/{n} = {100 * ok / max(n, 1):.1f}%")
    print(f"crashes: {crashes}")
    print(f"request equal to the directives': {equal}/{compared} compared")
    for line in mismatches:
        print(f"  differs: {line}")
    print("most common reasons for refusal:")
    for text, count in reasons.most_common(12):
        print(f"  {count:5d}  {text}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
