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

    ``engine_args`` is set when the job runs on another inference engine (vLLM) that the
    model's handler starts itself: the handler then loads nothing of its own onto the
    worker's GPUs (a second copy of the weights could leave the engine no memory).
    """

    threads: int | None = None
    memory_bytes: int | None = None
    gpus: tuple[int, ...] = ()
    engine_args: tuple[str, ...] | None = None

    @property
    def device(self) -> str:
        """``"cuda"`` when the worker owns a GPU, else ``"cpu"``: what a model is moved to."""
        return "cuda" if self.gpus else "cpu"
