"""Fetch the files a shard's rows name, ahead of the model, in a bounded number of bytes.

A pool of threads reads the files of the next batches while the model works on the current
one, so I/O overlaps compute. Every byte read is first granted by a :class:`ByteBudget`
and given back once the model is done with the rows holding it, so a worker holds at most
about its budget in files read ahead, plus the batch the model is on.

A batch whose files do not fit the budget is handed to the model in smaller slices. A row
whose files are larger than the whole budget is read alone, when nothing else is held: a
file is always handed over whole, so the largest file, encoded, must fit in memory.

A file decoded to an array (``convert_to`` IMAGE or AUDIO) is granted its bytes plus what
decoding holds (from the requested size, else the file's header: an image's array; audio's
samples at the file's rate and the result) and, once decoded, holds only the array.

With ``keep_going`` (``on_error="continue"``) a file that cannot be read or decoded does not
end the run: its row gets a :class:`FileFailure` in place of the contents, which the worker
turns into that row's ``_ERROR``.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from squall.batch.files.decode import AudioDecoder, ImageDecoder, decoder_for
from squall.batch.files.encoding import encode_file, encoded_size
from squall.errors import InputFileError

__all__ = ["ByteBudget", "FileFailure", "FileFetcher", "first_failure"]

# Batches whose files are fetched ahead of the one the model is on.
_LOOKAHEAD_BATCHES = 2
# Fetch threads when the settings leave it open. Files on a remote stage (S3) cost a round
# trip each, so many are read at once. Files on this machine's disks cost CPU, not waiting
# (reading them from the page cache, decoding them): more threads than the worker's cores
# only contend with each other and with the model. On 2 cores, 2 workers with 2 threads
# each ran the 20,000-image benchmark 13% (decoded) and 14% (bytes) faster than with 16.
_REMOTE_THREADS = 16


class _Closed(Exception):
    """The run ended: a fetch still waiting for bytes gives up."""


class ByteBudget:
    """Bytes that may be held at once; a request waits until they are given back.

    Requests carry a ticket (their row order, counted from 0) and are granted strictly in
    ticket order: a later file never takes bytes an earlier one is still to ask for, so the
    rows handed to the model together never hold more than the budget. A request larger
    than the whole budget is granted when nothing is held, and :meth:`allow_over` lets one
    ticket past the limit (the caller's way out when only that ticket's row holds bytes).
    Waiters are woken one by one, never all at once.
    """

    def __init__(self, limit: int, on_wait: Callable[[int], None] | None = None) -> None:
        self.limit = max(1, int(limit))
        self.used = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[int, threading.Event]] = {}
        self._over = -1
        self._next = 0  # the ticket whose turn it is
        self._closed = False
        self._on_wait = on_wait

    def acquire(self, ticket: int, n: int) -> None:
        """Take ``n`` bytes, waiting if need be; raises _Closed if the run ends first."""
        with self._lock:
            if self._closed:
                raise _Closed
            if ticket == self._next and self._may_take(ticket, n):
                self._take(n)
                self._wake()
                return
            event = threading.Event()
            self._waiting[ticket] = (n, event)
        if self._on_wait is not None:
            self._on_wait(ticket)
        event.wait()
        with self._lock:
            if self._closed:
                raise _Closed

    def release(self, n: int) -> None:
        with self._lock:
            self.used -= n
            self._wake()

    def shrink(self, held: int, now: int) -> None:
        """A grant of ``held`` bytes now holds ``now`` (a decoded file): account, never wait."""
        with self._lock:
            self.used += now - held
            self.peak = max(self.peak, self.used)
            if now < held:
                self._wake()

    def is_waiting(self, ticket: int) -> bool:
        """True when ``ticket`` waits for bytes held by others."""
        with self._lock:
            return ticket in self._waiting

    def allow_over(self, ticket: int) -> None:
        """Let ``ticket`` in even past the limit."""
        with self._lock:
            self._over = ticket
            self._wake()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for _, event in self._waiting.values():
                event.set()
            self._waiting.clear()

    def _may_take(self, ticket: int, n: int) -> bool:
        return n == 0 or self.used == 0 or self.used + n <= self.limit or ticket == self._over

    def _take(self, n: int) -> None:
        self.used += n
        self.peak = max(self.peak, self.used)
        self._next += 1

    def _wake(self) -> None:
        while self._next in self._waiting:
            n, event = self._waiting[self._next]
            if not self._may_take(self._next, n):
                return
            del self._waiting[self._next]
            self._take(n)
            event.set()


@dataclass(slots=True, eq=False)
class _Item:
    ticket: int
    path: str
    encoding: str
    column: str
    done: bool = False
    value: Any = None
    error: BaseException | None = None
    held: int = 0


class FileFailure:
    """In place of a row's file contents: the error reading or decoding it raised."""

    __slots__ = ("error",)

    def __init__(self, error: InputFileError) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"FileFailure({self.error})"


def first_failure(files: dict[str, list[Any]]) -> InputFileError | None:
    """The error of the first row (in row order) whose file failed, if any."""
    failures = (v for values in files.values() for v in values if isinstance(v, FileFailure))
    first = None
    for failure in failures:
        if first is None or failure.error.row < first.row:
            first = failure.error
    return first


@dataclass(slots=True)
class _Pending:
    batch: pa.RecordBatch
    first_row: int
    items: dict[str, list[_Item | None]] = field(default_factory=dict)
    # each row's input row number, when the rows are not in input order (partitioned runs)
    numbers: list[int] | None = None

    def input_row(self, row: int) -> int:
        return self.numbers[row] if self.numbers is not None else self.first_row + row


def _size_of(f: Any) -> int:
    size = getattr(f, "size", None)
    if isinstance(size, int):
        return size
    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        here = f.tell()
        end = int(f.seek(0, os.SEEK_END))
        f.seek(here)
        return end - here


class FileFetcher:
    """Resolves a worker's file columns: stage path -> contents, encoded as asked.

    ``file_columns`` maps a column of X to ``[input_format, convert_to]`` or
    ``[input_format, convert_to, options]`` (the job plan's form). One fetcher serves every
    shard of a worker; each :meth:`resolve` call runs its own thread pool and budget.
    """

    def __init__(
        self,
        stages: Any,
        file_columns: dict[str, list[Any]],
        *,
        bytes_in_flight: int | None = None,
        threads: int | None = None,
        row_column: str | None = None,
        keep_going: bool = False,
        cores: int | None = None,
    ) -> None:
        from squall.config import settings

        cfg = settings()
        self.stages = stages
        self.keep_going = keep_going
        self.encodings = {column: how[1] for column, how in file_columns.items()}
        self.decoders: dict[str, ImageDecoder | AudioDecoder] = {}
        for column, how in file_columns.items():
            decoder = decoder_for(how)
            if decoder is not None:
                decoder.require()  # a missing library fails the worker, not every row
                self.decoders[column] = decoder
        #: A column of the batches holding each row's input row number (rows reordered).
        self.row_column = row_column
        self.bytes_in_flight = bytes_in_flight or cfg.file_fetch_bytes
        #: Threads per run; None: chosen from the first batch's files (see ``run_threads``).
        self.threads = threads or cfg.file_fetch_threads
        #: The cores this worker may use, for the decoding threads (None: the machine's).
        self.cores = cores
        #: The most bytes of file contents held at once, over every run so far.
        self.peak_bytes = 0
        #: Files read so far (including those read ahead).
        self.files_read = 0

    def run_threads(self, paths: Iterable[Any]) -> int:
        """Threads reading files for a run whose first files are ``paths``.

        As set, else: many when a file is on a remote stage (each read waits on the
        network); on this machine's disks, the worker's cores plus one.
        """
        if self.threads:
            return self.threads
        seen: set[str] = set()
        for path in paths:
            key = str(path).split("/", 1)[0]
            if key in seen:
                continue
            seen.add(key)
            try:
                stage, _rel = self.stages.resolve(str(path))
            except Exception:
                continue  # the row fails when its file is read
            # files shipped with the shard (a Ray worker's) are in memory: no URL
            if not str(getattr(stage, "url", "file:")).startswith("file:"):
                return _REMOTE_THREADS
        return (self.cores or os.cpu_count() or 1) + 1

    def resolve(
        self, batches: Iterable[pa.RecordBatch], first_row: int = 0
    ) -> Iterator[tuple[pa.RecordBatch, dict[str, list[Any]]]]:
        """Yield ``(rows, contents)``: each slice of the input and, per file column, the
        contents of its files (None for a null path), in row order.

        ``first_row`` is the input row number of the first row, for error messages. A file
        that cannot be read raises InputFileError naming its path and row once the rows
        before it have been yielded.
        """
        run = _Run(self, batches, first_row)
        try:
            yield from run.slices()
        finally:
            run.close()


class _Run:
    """One pass of a fetcher over a stream of batches."""

    def __init__(self, fetcher: FileFetcher, batches: Iterable[pa.RecordBatch], first_row: int):
        self.fetcher = fetcher
        # The consumer waits on `cond` for one ticket at a time (`waiting_for`); fetch threads
        # wake it only when that ticket is done or starts waiting for bytes.
        self.cond = threading.Condition()
        self.waiting_for = -1
        self.budget = ByteBudget(fetcher.bytes_in_flight, on_wait=self._wake_consumer)
        self.pool: ThreadPoolExecutor | None = None  # started with the first batch's files
        self.threads = 1
        self.source = iter(batches)
        self.ahead: deque[_Pending] = deque()
        self.next_row = first_row
        self.tickets = 0

    def close(self) -> None:
        self.budget.close()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.fetcher.peak_bytes = max(self.fetcher.peak_bytes, self.budget.peak)

    # -- reading ahead --------------------------------------------------------------------
    def _fill(self) -> None:
        """Queue the files of the next batches, row by row (the order tickets are granted)."""
        while len(self.ahead) <= _LOOKAHEAD_BATCHES:
            batch = next(self.source, None)
            if batch is None:
                return
            pending = _Pending(batch, self.next_row)
            self.next_row += batch.num_rows
            row_column = self.fetcher.row_column
            if row_column is not None and row_column in batch.schema.names:
                pending.numbers = batch.column(row_column).to_pylist()
            paths = {c: batch.column(c).to_pylist() for c in self.fetcher.encodings}
            for column in paths:
                pending.items[column] = [None] * batch.num_rows
            queued: list[_Item] = []
            for row in range(batch.num_rows):
                for column, encoding in self.fetcher.encodings.items():
                    path = paths[column][row]
                    if path is None:
                        continue
                    item = _Item(self.tickets, str(path), encoding, column)
                    self.tickets += 1
                    pending.items[column][row] = item
                    queued.append(item)
            # One task per thread, each taking every n-th file: one task per file cost the
            # consumer (which submits them) more than the reading. Tickets are granted in
            # order, so interleaved tasks each wait only for the grant of the file before
            # theirs, not for its read: with runs of consecutive files, a task waited until
            # the one before had read (and decoded) nearly all of its run. Tasks start in
            # the order submitted and a batch has no more tasks than threads, so a ticket
            # never waits for a task that cannot start.
            if queued:
                pool = self._pool(queued)
                tasks = min(self.threads, len(queued))
                for k in range(tasks):
                    pool.submit(self._fetch_run, queued[k::tasks])
            self.ahead.append(pending)

    def _pool(self, first: list[_Item]) -> ThreadPoolExecutor:
        """The run's threads, started for its first files (their stages set how many)."""
        if self.pool is None:
            self.threads = self.fetcher.run_threads(item.path for item in first)
            self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="squall-fetch")
        return self.pool

    def _fetch_run(self, items: list[_Item]) -> None:
        for item in items:
            self._fetch(item)

    def _fetch(self, item: _Item) -> None:
        """Read one file (in a pool thread); always takes its turn, even when it fails."""
        budget = self.budget
        try:
            try:
                stage, rel = self.fetcher.stages.resolve(item.path)
                f = stage.open(rel, "rb")
            except Exception as exc:
                budget.acquire(item.ticket, 0)
                self._finish(item, None, exc)
                return
            decoder = self.fetcher.decoders.get(item.column)
            with f:
                if decoder is None:
                    need = encoded_size(_size_of(f), item.encoding)
                else:
                    need = _size_of(f) + decoder.estimate(f)
                budget.acquire(item.ticket, need)
                item.held = need
                try:
                    data = f.read()
                    if decoder is None:
                        value = encode_file(data, item.path, item.encoding)
                    else:
                        value = _decode(decoder, data)
                        del data
                        budget.shrink(need, value.nbytes)
                        item.held = value.nbytes
                except Exception as exc:
                    self._finish(item, None, exc)
                    return
            self._finish(item, value, None)
        except _Closed:
            return

    def _finish(self, item: _Item, value: Any, error: BaseException | None) -> None:
        with self.cond:
            item.value, item.error, item.done = value, error, True
            self.fetcher.files_read += 1
            if self.waiting_for == item.ticket:
                self.cond.notify()

    def _wake_consumer(self, ticket: int) -> None:
        with self.cond:
            if self.waiting_for == ticket:
                self.cond.notify()

    # -- handing rows to the model --------------------------------------------------------
    def slices(self) -> Iterator[tuple[pa.RecordBatch, dict[str, list[Any]]]]:
        self._fill()
        while self.ahead:
            pending = self.ahead[0]
            n = pending.batch.num_rows
            start = 0
            while start < n:
                end = self._collect(pending, start)
                rows = (
                    pending.batch
                    if start == 0 and end == n
                    else pending.batch.slice(start, end - start)
                )
                values: dict[str, list[Any]] = {}
                held = 0
                for column, items in pending.items.items():
                    out: list[Any] = []
                    values[column] = out
                    for i in range(start, end):
                        item = items[i]
                        if item is None:
                            out.append(None)
                            continue
                        out.append(item.value)
                        held += item.held
                        item.value = items[i] = None  # the model's frame is now the only holder
                yield rows, values
                del rows, values, out
                self.budget.release(held)
                start = end
            self.ahead.popleft()
            self._fill()

    def _collect(self, pending: _Pending, start: int) -> int:
        """Wait for the rows from ``start`` on; return where the slice to hand over ends.

        The slice ends at the batch's end, or earlier when the next file waits for bytes
        that only handing over the rows before it can free.
        """
        cond = self.cond
        n = pending.batch.num_rows
        row = start
        with cond:
            while row < n:
                blocked: _Item | None = None
                for column, items in pending.items.items():
                    item = items[row]
                    if item is None:
                        continue
                    self.waiting_for = item.ticket
                    while not item.done and not self.budget.is_waiting(item.ticket):
                        cond.wait()
                    if not item.done:
                        blocked = item
                        break
                    if item.error is not None:
                        error = _error(item, column, pending.input_row(row))
                        if not self.fetcher.keep_going:
                            raise error
                        item.value, item.error = FileFailure(error), None
                self.waiting_for = -1
                if blocked is None:
                    row += 1
                elif row > start:
                    break
                else:
                    self.budget.allow_over(blocked.ticket)
        return row


class _DecodeError(Exception):
    """A file was read but did not decode; its cause is the decoder's error."""

    what = "an image"  # what the file failed to decode as


def _decode(decoder: ImageDecoder | AudioDecoder, data: bytes) -> Any:
    try:
        return decoder.decode(data)
    except Exception as exc:
        error = _DecodeError(f"{type(exc).__name__}: {exc}")
        error.what = decoder.what
        raise error from exc


def _error(item: _Item, column: str, row: int) -> InputFileError:
    exc = item.error
    done = "read"
    if isinstance(exc, FileNotFoundError):
        why = "it does not exist"
    elif isinstance(exc, IsADirectoryError):
        why = "it is a folder"
    elif isinstance(exc, _DecodeError):
        done, why = f"decoded as {exc.what}", str(exc)
        exc = exc.__cause__ or exc
    else:
        why = f"{type(exc).__name__}: {exc}"
    error = InputFileError(
        f"file {item.path} (column {column!r}, input row {row}) could not be {done}: {why}",
        path=item.path,
        row=row,
        column=column,
    )
    error.__cause__ = exc
    return error
