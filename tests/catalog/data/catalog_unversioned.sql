BEGIN TRANSACTION;
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    message TEXT,
    model TEXT,
    version TEXT,
    function TEXT,
    output_location TEXT,
    compute_pool TEXT,
    spec TEXT NOT NULL DEFAULT '{}',
    rows_total INTEGER NOT NULL DEFAULT 0,
    rows_done INTEGER NOT NULL DEFAULT 0,
    error_rows INTEGER NOT NULL DEFAULT 0,
    shards_total INTEGER NOT NULL DEFAULT 0,
    shards_done INTEGER NOT NULL DEFAULT 0,
    created_time REAL NOT NULL,
    started_time REAL,
    first_output_time REAL,
    completed_time REAL,
    heartbeat REAL,
    supervisor_pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    staging INTEGER NOT NULL DEFAULT 0,
    stager_pid INTEGER
);
INSERT INTO "jobs" VALUES('b525f754b04b44129ad1fa9749eae5e6','OLD_JOB','DONE','5 rows written to @results/old/','old','V1','predict','@results/old/','local','{"model_name": "old", "version_name": "V1", "model_path": "{HOME}/models/OLD/V1", "function": "predict", "function_kind": "inference", "output_location": "@results/old/", "output_dir": "{HOME}/stages/results/old", "scratch_dir": "{HOME}/jobs/OLD_JOB", "params": {"factor": 2.0}, "model_columns": ["id", "x"], "file_columns": {}, "partition_column": null, "max_batch_rows": 65536, "num_workers": 1, "max_retries": 3, "on_error": "fail", "max_error_rate": null, "compute_pool": "local"}',5,5,0,1,1,1.79566359183995914458e+09,1.79566359223581051827e+09,1.79566359534664177896e+09,1.79566359544163846968e+09,1.7956635953234591484e+09,29273,0,0,29172);
CREATE TABLE models (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    default_version TEXT,
    comment TEXT,
    created REAL NOT NULL
);
CREATE TABLE shards (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    shard INTEGER NOT NULL,
    path TEXT NOT NULL,
    rows INTEGER NOT NULL,
    first_row INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'PENDING',
    attempts INTEGER NOT NULL DEFAULT 0,
    rows_done INTEGER NOT NULL DEFAULT 0,
    error_rows INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    error TEXT,
    completed REAL,
    PRIMARY KEY (job_id, shard)
);
INSERT INTO "shards" VALUES('b525f754b04b44129ad1fa9749eae5e6',0,'{HOME}/jobs/OLD_JOB/input/shard-000000.arrow',5,0,'DONE',1,5,0,'w0',NULL,1.79566359534664177896e+09);
CREATE TABLE stages (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    url TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    encryption TEXT,
    kms_key_id TEXT,
    created REAL NOT NULL
);
INSERT INTO "stages" VALUES('results','internal',NULL,'{}',NULL,NULL,1.79566359146652793879e+09);
CREATE TABLE versions (
    model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
    version TEXT NOT NULL,
    display_name TEXT NOT NULL,
    path TEXT NOT NULL,
    model_type TEXT NOT NULL,
    functions TEXT NOT NULL,
    comment TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (model, version)
);
CREATE TABLE workers (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    worker TEXT NOT NULL,
    pid INTEGER,
    started REAL NOT NULL,
    PRIMARY KEY (job_id, worker, started)
);
INSERT INTO "workers" VALUES('b525f754b04b44129ad1fa9749eae5e6','w0',29278,1.79566359239183282849e+09);
CREATE INDEX jobs_created ON jobs(created_time);
COMMIT;
