"""The job index (`jobspec list`'s memory) under many writers of one process: the
receiver's workers and run_many's threads each add a row as their job is submitted."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from jobspec.engine.index import JobIndex


def test_rows_from_many_threads_all_land_and_the_files_stay_private(tmp_path: Path) -> None:
    index = JobIndex(tmp_path / "state" / "jobs.sqlite")

    def add(worker: int) -> None:
        for i in range(25):
            index.add(f"{worker}-{i}", "flux", "submit", source=f"j{worker}.yaml")
            index.set_state(f"{worker}-{i}", "flux", "completed", 0)

    threads = [threading.Thread(target=add, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs = JobIndex(index.path).jobs()  # as `jobspec list` reads it
    assert len(jobs) == 200 and {j.state for j in jobs} == {"completed"}
    for path in tmp_path.joinpath("state").iterdir():  # the database and its write-ahead log
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_index_removed_while_the_process_runs_is_made_again(tmp_path: Path) -> None:
    index = JobIndex(tmp_path / "jobs.sqlite")
    index.add("f1", "flux", "submit")
    for path in tmp_path.iterdir():
        path.unlink()
    index.add("f2", "flux", "submit")
    assert [j.job_id for j in index.jobs()] == ["f2"]
