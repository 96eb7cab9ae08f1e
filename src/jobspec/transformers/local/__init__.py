"""The local transformer: the task as processes on this machine, with a job life cycle
that outlives the command (a detached supervisor per job, records on disk)."""
