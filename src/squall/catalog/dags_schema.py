"""The catalog tables of task DAGs (squall.tasks): a migration step of catalog/db.py.

``dags`` holds each deployed DAG (its pickled definition, schedule and next tick),
``dag_runs`` each run (with a copy of the definition it runs, so a redeploy never changes a
run under way; one scheduled run per DAG and tick, by a unique index) and
``dag_task_runs`` each task of a run. squall/tasks/store.py owns the SQL that reads and
writes them.
"""

from __future__ import annotations

DAGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS dags (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    definition BLOB NOT NULL,
    graph TEXT NOT NULL,
    schedule TEXT,
    config TEXT,
    comment TEXT,
    state TEXT NOT NULL DEFAULT 'STARTED',
    anchor REAL NOT NULL,
    next_scheduled_time REAL,
    graph_version INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dag_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    dag TEXT NOT NULL REFERENCES dags(name) ON DELETE CASCADE,
    state TEXT NOT NULL,
    trigger TEXT NOT NULL,
    scheduled_time REAL NOT NULL,
    query_start_time REAL,
    completed_time REAL,
    first_error_task_name TEXT,
    first_error_message TEXT,
    attempt_number INTEGER NOT NULL DEFAULT 1,
    graph_version INTEGER NOT NULL,
    definition BLOB NOT NULL,
    runner_pid INTEGER,
    runner_started REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS dag_runs_one_per_tick
    ON dag_runs(dag, scheduled_time) WHERE trigger = 'SCHEDULED';
CREATE INDEX IF NOT EXISTS dag_runs_state ON dag_runs(state);
CREATE TABLE IF NOT EXISTS dag_task_runs (
    run_id INTEGER NOT NULL REFERENCES dag_runs(run_id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    return_value TEXT,
    error TEXT,
    job_name TEXT,
    started REAL,
    completed REAL,
    PRIMARY KEY (run_id, task)
);
"""
