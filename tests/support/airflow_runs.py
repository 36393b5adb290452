"""Airflow's own backfill of c360_daily, its runs executed in this process.

`airflow backfill create` (the CLI, in its own process) makes the backfill: one queued
`backfill` run per day of the range, with the data intervals of the DAG's timetable, in the
metadata database. A scheduler would then start them one at a time (the DAG's
`max_active_runs` and the backfill's) and hand each task to an executor, whose fresh process
starts a JVM per task. Here the runs are started in the same order and each task runs in this
process with the task runner `dag.test` uses (Airflow's `_run_task`), on the warm SparkSession:
the same runs, states, data intervals and task code, without a scheduler and executor.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from typing import Any


def create_backfill(airflow: str, dag_id: str, first: str, last: str, conf: Mapping[str, Any],
                    env: Mapping[str, str]) -> None:
    """`airflow dags reserialize`, then `airflow backfill create` for `first`..`last`."""
    full = {**os.environ, **env}
    for command in (["dags", "reserialize"],
                    ["backfill", "create", "--dag-id", dag_id, "--from-date", first, "--to-date", last,
                     "--max-active-runs", "1", "--dag-run-conf", json.dumps(dict(conf))]):
        done = subprocess.run([airflow, *command], env=full, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"airflow {' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def run_backfill(dag: Any, dag_id: str) -> list[dict[str, Any]]:
    """Run every run of the newest backfill of `dag_id` to its end, oldest logical date first; per run its type,
    data interval start, state and each task's state."""
    from airflow.models.backfill import Backfill
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.settings import Session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    session = Session()
    backfill = session.scalars(select(Backfill).where(Backfill.dag_id == dag_id).order_by(Backfill.id.desc())).first()
    assert backfill is not None, f"no backfill of {dag_id}"
    run_ids = list(session.scalars(select(DagRun.id).where(DagRun.backfill_id == backfill.id)
                                   .order_by(DagRun.logical_date)))
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    scheduler_dag.on_failure_callback = dag.on_failure_callback
    scheduler_dag.on_success_callback = dag.on_success_callback

    def load(run_id: int) -> tuple[Any, Any]:
        """The run in the thread's session: the task runner closes that session after each task."""
        session = Session()
        run = session.get(DagRun, run_id)
        run.dag = scheduler_dag
        return session, run

    done = []
    for run_id in run_ids:
        session, run = load(run_id)
        run.set_state(DagRunState.RUNNING)
        session.commit()
        while run.state == DagRunState.RUNNING:
            session.expire_all()
            schedulable, _ = run.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            scheduled = run.get_task_instances(state=[TaskInstanceState.SCHEDULED], session=session)
            if not scheduled and run.state == DagRunState.RUNNING:
                time.sleep(1)  # a task waiting for its retry or its trigger
            for ti in scheduled:
                _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
            session, run = load(run_id)
        done.append({"run_type": str(run.run_type), "day": run.data_interval_start.date(), "state": str(run.state),
                     "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}})
    session.close()
    return done
