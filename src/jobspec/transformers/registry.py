"""Finding transformers: built-in ones, installed ``jobspec_<name>`` modules, and the
``jobspec.transformers`` entry-point group.

Nothing is imported until it is asked for: listing names does not import plugins,
and a plugin that fails to import is reported when it is requested by name.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from jobspec.document.problems import JobspecError, Problem, did_you_mean, one_of

if TYPE_CHECKING:
    from jobspec.plugin.transformer import Transformer

ENTRY_POINT_GROUP = "jobspec.transformers"
MODULE_PREFIX = "jobspec_"

# name -> "module:Class"; a module path keeps start-up free of imports not needed
BUILTIN: dict[str, str] = {
    "local": "jobspec.transformers.local.transformer:LocalTransformer",
    "slurm": "jobspec.transformers.slurm.transformer:SlurmTransformer",
    "flux": "jobspec.transformers.flux.transformer:FluxTransformer",
    "kubernetes": "jobspec.transformers.kubernetes.transformer:KubernetesTransformer",
}


@dataclass
class Entry:
    name: str
    target: str  # "module:Class", a module name, or an entry point's value
    origin: str  # builtin, module, entry point

    def load(self) -> type[Transformer]:
        from jobspec.plugin.transformer import Transformer

        module_name, _, attr = self.target.partition(":")
        try:
            obj: object = importlib.import_module(module_name)
            for part in (attr or "Transformer").split("."):
                obj = getattr(obj, part)
        except Exception as e:
            raise PluginError(
                f"transformer '{self.name}' ({self.origin} {self.target}) failed to load: {type(e).__name__}: {e}"
            ) from e
        if not (isinstance(obj, type) and issubclass(obj, Transformer)):
            raise PluginError(f"transformer '{self.name}' ({self.target}) is not a Transformer subclass")
        return obj


@dataclass
class Choice:
    """The transformer chosen, why, and (for an automatic choice) each one passed over with why."""

    cls: type[Transformer]
    why: str
    passed_over: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.cls.name,
            "why": self.why,
            "passed_over": [{"name": name, "why": why} for name, why in self.passed_over],
        }


class PluginError(JobspecError):
    def __init__(self, message: str) -> None:
        super().__init__(Problem(message))


class TransformerRegistry:
    """The transformers this installation knows, loaded on demand."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {n: Entry(n, t, "builtin") for n, t in BUILTIN.items()}
        self._classes: dict[str, type[Transformer]] = {}
        self._discovered = False

    def register(self, cls: type[Transformer]) -> type[Transformer]:
        """Add a transformer class directly (tests, embedding programs)."""
        self._classes[cls.name] = cls
        self._entries[cls.name] = Entry(cls.name, f"{cls.__module__}:{cls.__qualname__}", "registered")
        return cls

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        listed = list(_path_entries())  # listed once for both kinds of plugin
        for module in _plugin_modules(listed):
            name = module[len(MODULE_PREFIX) :]
            self._entries.setdefault(name, Entry(name, module, "module"))
        if not _any_entry_points(listed):
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            self._entries.setdefault(ep.name, Entry(ep.name, ep.value, "entry point"))

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            self._discover()
        if name not in self._entries:
            known = self.names()
            raise JobspecError(
                Problem(f"no transformer named '{name}'{did_you_mean(name, known)} (known: {one_of(known)})")
            )
        return self._entries[name]

    def get_plugin(self, name: str) -> type[Transformer]:
        """The transformer class called ``name`` (imported now if it was not yet)."""
        if name not in self._classes:
            self._classes[name] = self.entry(name).load()
        return self._classes[name]

    def loaded(self) -> list[type[Transformer]]:
        """Every transformer that loads, plugins included; one that fails to load is left out
        (it is reported when asked for by name)."""
        found = []
        for name in self.names():
            try:
                found.append(self.get_plugin(name))
            except JobspecError:
                continue
        return found

    def choose(self, name: str | None = None) -> tuple[type[Transformer], str]:
        """The transformer to use and why (see `choice`, which also says who was passed over)."""
        chosen = self.choice(name)
        return chosen.cls, chosen.why

    def choice(self, name: str | None = None) -> Choice:
        """The transformer to use, why, and why each other one was passed over: ``name``,
        else $JOBSPEC_TRANSFORMER, else the available transformer with the highest
        `Transformer.affinity` (plugins included).

        Only what the choice asks anyway is asked: `available` of each candidate down to the
        one chosen (the one costly answer, Slurm's ping, is paid only there), and of those that
        do not offer themselves (affinity 0), whose answer is cheap by the contract.
        """
        if name:
            return Choice(self.get_plugin(name), "chosen with -t")
        env = os.environ.get("JOBSPEC_TRANSFORMER")
        if env:
            return Choice(self.get_plugin(env), "from JOBSPEC_TRANSFORMER")
        passed: list[tuple[str, str]] = []
        ranked: list[tuple[int, type[Transformer]]] = []
        for each in self.names():
            try:
                cls = self.get_plugin(each)
            except JobspecError as e:
                passed.append((each, f"cannot be loaded ({e.problems[0].message})"))
                continue
            ranked.append((_asked(cls.affinity, 0), cls))
        ranked.sort(key=lambda pair: pair[0], reverse=True)
        chosen: tuple[type[Transformer], str] | None = None
        for affinity, cls in ranked:
            if affinity <= 0:
                ok, why = _asked(cls.available, (False, "its availability check failed"))
                if ok:
                    why = f"offers itself only when named (-t {cls.name}), though it could run here: {why}"
                passed.append((cls.name, why))
            elif chosen is not None:
                passed.append((cls.name, f"not asked: {chosen[0].name} comes first"))
            else:
                ok, why = _asked(cls.available, (False, "its availability check failed"))
                if ok:
                    chosen = (cls, why)
                else:
                    passed.append((cls.name, why))
        if chosen is None:
            known = one_of([cls.name for _, cls in ranked])
            reasons = "".join(f"\n  {who}: {why}" for who, why in passed)
            raise JobspecError(Problem(f"no transformer offers itself here: name one with -t ({known}){reasons}"))
        return Choice(chosen[0], chosen[1], passed)

    def owner(self, job_id: str) -> type[Transformer]:
        """The transformer whose job ids look like ``job_id``, asking every one that loads."""
        owners = [cls for cls in self.loaded() if cls.owns_job_id(job_id)]
        if len(owners) == 1:
            return owners[0]
        if owners:
            names = " and ".join(cls.name for cls in owners)
            raise JobspecError(Problem(f"job id '{job_id}' could be {names}'s: name its transformer with -t"))
        raise JobspecError(Problem(f"cannot tell whose job '{job_id}' is: name its transformer with -t"))


def _path_entries() -> Iterator[tuple[str, str]]:
    """(folder, name) of everything directly in the folders on sys.path."""
    for folder in dict.fromkeys(sys.path):
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue  # a zip file, or gone
        for name in names:
            yield folder or ".", name


def _plugin_modules(listed: list[tuple[str, str]]) -> list[str]:
    """The top-level ``jobspec_<name>`` modules and packages on sys.path. A scan for the
    prefix alone: pkgutil.iter_modules lists every module there is (about 20 ms here)."""
    found = []
    for _, entry in listed:
        module = entry.split(".", 1)[0]
        if module.startswith(MODULE_PREFIX) and len(module) > len(MODULE_PREFIX) and module.isidentifier():
            found.append(module)
    return list(dict.fromkeys(found))


def _any_entry_points(listed: list[tuple[str, str]]) -> bool:
    """Whether an installed distribution's entry_points.txt mentions the group: looked at
    before importing importlib.metadata (about 20 ms), which then reads them properly."""
    for folder, entry in listed:
        if entry.endswith((".dist-info", ".egg-info")):
            try:
                with open(os.path.join(folder, entry, "entry_points.txt"), encoding="utf-8") as fh:
                    if ENTRY_POINT_GROUP in fh.read():
                        return True
            except (OSError, UnicodeDecodeError):
                continue
    return False


T = TypeVar("T")


def _asked(question: Callable[[], T], otherwise: T) -> T:
    """A plugin's answer, or ``otherwise`` if it raises: one broken plugin must not stop
    the automatic choice (it is reported when named)."""
    try:
        return question()
    except Exception:
        return otherwise


_registry: TransformerRegistry | None = None


def get_transformer_registry() -> TransformerRegistry:
    """The process-wide registry (the original Python entry point)."""
    global _registry
    if _registry is None:
        _registry = TransformerRegistry()
    return _registry
