"""Existing batch scripts (``#SBATCH``, ``#PBS``, ``# flux:``) as jobspecs: `import_script`.

Deterministic: the directives are read as the scheduler reads them, the request becomes
the resource graph, the body the batch script (its launch lines made portable), and what
has no portable meaning is kept as a Slurm setting or reported as dropped.
"""

from jobspec.importing.convert import Imported, import_script

__all__ = ["Imported", "import_script"]
