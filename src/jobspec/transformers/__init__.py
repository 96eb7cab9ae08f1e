"""Transformers: one folder per system (local, slurm, flux, kubernetes), and the registry."""
