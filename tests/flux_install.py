"""Where flux-core is installed on this machine, for the tests, the benchmarks and CI.

Looked for in this order: a ``flux`` command on PATH, else ``$FLUX_PREFIX/bin/flux``,
else ``/opt/flux/bin/flux``. flux-core is not in the package registries (it is built
from source outside the repository, brief section 5), so nothing installs it here.

`activate` puts what was found within reach of this process and of the commands it
starts: its ``bin`` on PATH, its Python bindings (``<prefix>/lib/python3.*/site-packages``)
on ``sys.path`` and PYTHONPATH. The bindings need ``cffi`` and ``ply`` (the dev extras).

``python tests/flux_install.py`` prints the one line CI shows.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PREFIX = "/opt/flux"
NOT_FOUND = (
    "no Flux: no flux command on PATH, in $FLUX_PREFIX/bin or in /opt/flux/bin (build flux-core: brief, section 5)"
)


@dataclass(frozen=True)
class FluxInstall:
    command: Path  # the flux command
    how: str  # how it was found: "PATH", "FLUX_PREFIX" or "/opt/flux"
    bindings: Path | None  # the site-packages folder holding flux-core's Python module

    @property
    def prefix(self) -> Path:
        return self.command.resolve().parent.parent

    def describe(self) -> str:
        bindings = f", its Python bindings in {self.bindings}" if self.bindings else ", no Python bindings found"
        return f"Flux found ({self.how}): {self.command}{bindings}"


def find() -> FluxInstall | None:
    """The flux-core installation these tests use, or None."""
    on_path = shutil.which("flux")
    if on_path:
        return _install(Path(on_path), "PATH")
    prefix = os.environ.get("FLUX_PREFIX")
    for where, how in ((prefix, "FLUX_PREFIX"), (DEFAULT_PREFIX, DEFAULT_PREFIX)):
        if where and os.access(Path(where) / "bin" / "flux", os.X_OK):
            return _install(Path(where) / "bin" / "flux", how)
    return None


def _install(command: Path, how: str) -> FluxInstall:
    lib = command.resolve().parent.parent / "lib"
    mine = lib / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    candidates = [mine, *sorted(lib.glob("python3.*/site-packages"), reverse=True)]
    bindings = next((c for c in candidates if (c / "flux" / "__init__.py").is_file()), None)
    return FluxInstall(command, how, bindings)


def activate(install: FluxInstall) -> None:
    """This process and its children see the install: PATH, sys.path, PYTHONPATH."""
    folder = str(install.command.parent)
    path = os.environ.get("PATH", "")
    if folder not in path.split(os.pathsep):
        os.environ["PATH"] = f"{folder}{os.pathsep}{path}" if path else folder
    if install.bindings is not None:
        where = str(install.bindings)
        if where not in sys.path:
            sys.path.insert(0, where)
        pythonpath = os.environ.get("PYTHONPATH", "")
        if where not in pythonpath.split(os.pathsep):
            os.environ["PYTHONPATH"] = f"{where}{os.pathsep}{pythonpath}" if pythonpath else where


def bindings_problem() -> str | None:
    """Why flux-core's Python module does not import in this Python, or None when it does."""
    try:
        import flux
    except ImportError as e:
        return f"flux-core's Python bindings do not import in {sys.executable}: {e}"
    if not hasattr(flux, "Flux"):
        return f"the 'flux' module at {getattr(flux, '__file__', '?')} is not flux-core's"
    return None


def hide_bindings(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child process in which flux-core's bindings do not import (wherever
    they are installed): modules ``flux`` and ``_flux`` that refuse to load, first on PYTHONPATH."""
    for module in ("flux", "_flux"):  # the Python side, and the compiled one
        stub = folder / module
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "__init__.py").write_text('raise ImportError("flux-core\'s bindings are hidden from this test")\n')
    pythonpath = env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(folder), pythonpath) if p)}


# the initial program: tell the caller where the instance is, then hold it open
REPORT_URI = 'echo "$FLUX_URI" > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 86400'


@dataclass
class Instance:
    """A ``flux start --test-size=N`` instance started by `start_instance` (stop it with `stop`)."""

    uri: str
    proc: subprocess.Popen[bytes]
    folder: Path

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)  # the instance started here, and only it
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_instance(
    flux: str,
    folder: Path,
    size: int = 4,
    cores: str = "0-7",
    gpus: str = "0-1",
    validator_plugins: list[str] | None = None,
) -> Instance:
    """A test instance of ``size`` brokers on this host, each given the faked resource
    set ``cores`` (and ``gpus``) whatever this host has, so that full-size shapes
    (4 nodes x 4 cores) run here: ``flux R encode``, then ``[resource] noverify``.
    ``validator_plugins``: job-ingest's validator plugins (names or file paths) in place
    of its default."""
    folder.mkdir(parents=True, exist_ok=True)
    ranks = f"0-{size - 1}"
    encoded = subprocess.run(
        [flux, "R", "encode", "-r", ranks, "-c", cores, "-g", gpus], capture_output=True, text=True, check=True
    )
    (folder / "R.json").write_text(encoded.stdout)
    config = folder / "config"
    config.mkdir(exist_ok=True)
    (config / "resource.toml").write_text(f'[resource]\nnoverify = true\npath = "{folder / "R.json"}"\n')
    if validator_plugins is not None:
        plugins = ", ".join(f'"{plugin}"' for plugin in validator_plugins)
        (config / "ingest.toml").write_text(f"[ingest.validator]\nplugins = [{plugins}]\n")
    # the faked cores are not all in this host's topology: the shell's cpu-affinity would
    # report every such core on the job's stderr (a job that sets it keeps its own)
    builtin = [flux, "config", "builtin", "shell_initrc"]
    default_initrc = subprocess.run(builtin, capture_output=True, text=True, check=True).stdout.strip()
    initrc = folder / "initrc.lua"
    initrc.write_text(
        "if not shell.options['cpu-affinity'] then shell.options['cpu-affinity'] = 'off' end\n"
        f'source "{default_initrc}"\n'
    )
    uri_file = folder / "uri"
    uri_file.unlink(missing_ok=True)
    log_path = folder / "flux-start.log"
    options = [f"--test-size={size}", f"--config-path={config}", f"-Sconf.shell_initrc={initrc}"]
    program = ["/bin/sh", "-c", REPORT_URI, "sh", str(uri_file)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [flux, "start", *options, *program],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while not uri_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                Instance("", proc, folder).stop()
            raise RuntimeError(f"flux start --test-size={size} did not come up: {log_path.read_text()[-2000:]}")
        time.sleep(0.05)
    return Instance(uri_file.read_text().strip(), proc, folder)


if __name__ == "__main__":
    found = find()
    print(f"flux: {found.describe()}" if found else f"flux: {NOT_FOUND}")
