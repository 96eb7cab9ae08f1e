"""The Slurm transformer: jobs through Slurm's command line (sbatch, srun, scontrol, scancel)
or its REST API (slurmrestd).

What it decides is kept in pure modules, which run nothing:

- `request`: the job as sbatch options (`JobRequest`), the ``sbatch`` command line and
  environment, the task layout, the time limit, where the output goes;
- `rest_mapping`: the same request as the REST API's JSON job (sbatch option -> job
  field), and slurmrestd's answers read;
- `script`: the generated submit script, the wrapper of a batch script, the lines that
  stage files on every node (and the archive they carry);
- `parse`: what Slurm prints read (sbatch, ``scontrol show job``, exit codes and states,
  squeue's submit keys, ``scontrol token``);
- `options`: the transformer's options, its settings, and how they choose the interface
  and slurmrestd's address;
- `state`: what one run's steps keep for the next (`SlurmRun`: staged files, the token).

The thin layers that talk to Slurm: `client` runs its commands, `rest` talks HTTP to
slurmrestd. `steps` holds the step classes (submit, batch, stage, auth), and
`transformer` the `SlurmTransformer` that puts them together.
"""
