"""What one worker may use (threads, memory, GPUs), handed to a model handler's ``load``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Resources"]


@dataclass(frozen=True)
class Resources:
    """A worker's share of the machine.

    ``threads`` caps the native thread pools (BLAS, OpenMP, Arrow, torch); ``memory_bytes``
    is the memory the job asked per worker (``memory_requests``); ``gpus`` are the indices
    of the machine's GPUs this worker owns: its ``CUDA_VISIBLE_DEVICES``, so inside the
    worker they are ``cuda:0``, ``cuda:1``, ...
    """

    threads: int | None = None
    memory_bytes: int | None = None
    gpus: tuple[int, ...] = ()

    @property
    def device(self) -> str:
        """``"cuda"`` when the worker owns a GPU, else ``"cpu"``: what a model is moved to."""
        return "cuda" if self.gpus else "cpu"
