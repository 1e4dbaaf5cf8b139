"""Collections and GC pauses during a guarded window, through ``gc.callbacks``."""

from __future__ import annotations

import gc
import time
from typing import Any, NamedTuple

_GENERATIONS = 3
_NO_COLLECTIONS = (0,) * _GENERATIONS


class GcStats(NamedTuple):
    """What the cyclic collector did while a window was recording (a named tuple: one
    is made per guarded run)."""

    collections: tuple[int, ...] = _NO_COLLECTIONS
    collected: int = 0
    pause_max: float = 0.0
    pause_total: float = 0.0


class GcWatch:
    """Counts collections per generation and times each pause.

    One callback is installed for the session; ``start``/``stop`` bracket a window.
    Collections the plugin triggers itself are not counted: it calls ``paused()``.
    """

    def __init__(self) -> None:
        self._recording = False
        self._started_at: float | None = None
        self._collections = [0] * _GENERATIONS
        self._reset()

    def _reset(self) -> None:
        # Reset in place: a new list made inside a window would be a survivor of it.
        self._collections[:] = _NO_COLLECTIONS
        self._collected = 0
        self._pause_max = 0.0
        self._pause_total = 0.0

    def install(self) -> None:
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def uninstall(self) -> None:
        while self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def start(self) -> None:
        self._reset()
        self._recording = True

    def stop(self) -> GcStats:
        self._recording = False
        self._started_at = None
        return GcStats(
            collections=tuple(self._collections),
            collected=self._collected,
            pause_max=self._pause_max,
            pause_total=self._pause_total,
        )

    def pause(self) -> bool:
        """Stop counting (around the plugin's own collections); returns the old state."""
        was_recording, self._recording = self._recording, False
        return was_recording

    def resume(self, was_recording: bool) -> None:
        self._recording = was_recording

    def collected_the_oldest(self) -> bool:
        """Whether a full collection ran while recording since :meth:`start`: only one
        stops tracking dicts that hold no container (a dict tracked again when one is
        put in it is listed among the newest objects, its address unchanged)."""
        return self._collections[-1] > 0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if not self._recording:
            return
        if phase == "start":
            self._started_at = time.perf_counter()
            return
        if self._started_at is None:
            return
        pause = time.perf_counter() - self._started_at
        self._started_at = None
        # Newer interpreters may number their generations differently: clamp, never fail.
        generation = min(max(int(info.get("generation", 0)), 0), _GENERATIONS - 1)
        self._collections[generation] += 1
        self._collected += int(info.get("collected", 0))
        self._pause_total += pause
        self._pause_max = max(self._pause_max, pause)
