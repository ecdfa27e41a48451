"""Re-cut a stream of Arrow record batches into batches of a bounded number of rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

__all__ = ["combine", "rebatch"]


def combine(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One record batch holding the rows of ``batches`` in order."""
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def rebatch(runs: Iterable[tuple[pa.RecordBatch, bool]], max_rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of ``runs`` in batches of at most ``max_rows``, filled as far as they go.

    Each run comes with a flag: True means its rows must not share a batch with the rows
    before it (a new partition, say).
    """
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for run, starts_new in runs:
        if starts_new and pending:
            yield combine(pending)
            pending, pending_rows = [], 0
        offset = 0
        while offset < run.num_rows:
            take = min(run.num_rows - offset, max_rows - pending_rows)
            pending.append(run.slice(offset, take))
            pending_rows += take
            offset += take
            if pending_rows == max_rows:
                yield combine(pending)
                pending, pending_rows = [], 0
    if pending:
        yield combine(pending)
