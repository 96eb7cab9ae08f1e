"""What each pod asks for, from the jobspec's counts: pure, run nowhere.

One pod a task (a ``batch``: one pod for the whole request). Kubernetes takes a
pod's CPU in thousandths (``1600m``), so the graph's cores are divided among the
pods exactly: ``total: 5`` over 4 slots of 2 cores gives each of the 5 pods 1600m,
8 cores in all. Memory likewise, in MiB (``Mi``, rounded up), the node's own
memory included. GPUs come whole: a pod gets the GPUs of its task, so tasks that
would share a GPU (``per_slot: 2`` on a slot of one gpu) cannot be expressed and are
refused at plan time, as are what Kubernetes has no request for (sockets, count ranges).
Requests and limits are the same, so a pod is given what it asks for and no more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jobspec.document.problems import Problem
from jobspec.document.resources import ResourceCounts

GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class PodResources:
    cpu_millis: int
    gpus: int = 0
    memory_mib: int = 0

    def quantities(self) -> dict[str, str]:
        """The container's ``resources.requests`` (and ``limits``)."""
        millis = max(1, self.cpu_millis)
        out = {"cpu": str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"}
        if self.memory_mib:
            out["memory"] = f"{self.memory_mib}Mi"
        if self.gpus > 0:
            out[GPU_RESOURCE] = str(self.gpus)
        return out

    def describe(self) -> str:
        millis = max(1, self.cpu_millis)
        words = [f"{millis // 1000} cpu" if millis % 1000 == 0 else f"{millis}m cpu"]
        if self.gpus:
            words.append(f"{self.gpus} gpu{'s' if self.gpus != 1 else ''}")
        if self.memory_mib:
            words.append(f"{self.memory_mib}Mi memory")
        return ", ".join(words)


def per_task(counts: ResourceCounts) -> PodResources:
    """A task's pod: its share of every core and byte; its own whole gpus."""
    tasks = max(1, counts.tasks)
    return PodResources(
        cpu_millis=math.ceil(max(1, counts.cores) * 1000 / tasks),
        gpus=counts.even_gpus_per_task or 0,
        memory_mib=math.ceil(counts.memory / tasks),
    )


def whole(counts: ResourceCounts) -> PodResources:
    """A batch script's one pod: the whole request."""
    return PodResources(max(1, counts.cores) * 1000, counts.gpus, counts.memory)


def resource_problems(
    counts: ResourceCounts, resources: Sequence[Mapping[str, Any]], task_path: tuple[str | int, ...], *, batch: bool
) -> list[Problem]:
    """What of the graph Kubernetes cannot ask for, with its place and what it can do instead."""
    problems = []
    if not batch and counts.gpus and counts.even_gpus_per_task is None:
        problems.append(
            Problem(
                f"the graph's {counts.gpus} gpus cannot be given out whole to its {counts.tasks} tasks (each task is a "
                "pod, and Kubernetes gives a pod whole gpus of its own): make each slot's gpus a multiple of its "
                "tasks, put the gpus in the slots (not beside them on the node), or use a batch step (one pod)",
                path=(*task_path, "count"),
            )
        )
    for place in counts.ranges:
        problems.append(
            Problem("Kubernetes asks for fixed quantities, not a count range: give a count", path=(*place, "count"))
        )
    if counts.nodes_max:
        problems.append(
            Problem(
                "Kubernetes asks for fixed quantities, not a count range: give a count", path=("resources", 0, "count")
            )
        )
    if counts.sockets_per_node or counts.sockets_per_slot:
        problems.append(
            Problem(
                "Kubernetes has no request for sockets: remove the socket vertices (their cores and gpus "
                "still count), or run on Slurm or Flux",
                path=("resources",),
            )
        )
    return problems
