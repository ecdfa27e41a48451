"""Batch jobs: the ``Job`` handle, listing, lookup and deletion."""

from squall.jobs.job import Job, Progress
from squall.jobs.manage import delete_job, get_job, list_jobs

__all__ = ["Job", "Progress", "delete_job", "get_job", "list_jobs"]
