"""The engine: settings, the plan (every step checked before anything runs), the run."""
