"""The Slurm transformer: jobs through Slurm's command line (sbatch, srun, scontrol, scancel)
or its REST API (slurmrestd).

`commands` decides (argv, script text, parsing of what Slurm prints) and runs nothing;
`transformer` is the thin layer that calls the commands, `rest` the one that talks HTTP.
"""
