"""Trainings run one at a time for the whole server, first come, first served: the line they wait in, and the
thread a training runs in once its turn comes.

    ticket = line.join()
    async for ahead in line.wait(ticket, stop): ...   # the number ahead, whenever it changes
    async for item in in_own_thread(steps, stop): ... # a blocking generator's items, on the event loop
    line.leave(ticket)
"""

import asyncio
import contextlib
import contextvars
import os
import threading

from src.training import gpu

TRAINING_NICE = 10  # a training's thread yields the CPU to readings and page loads (Linux: per thread)


class TrainingLine:
    """One training at a time, first come, first served; the others wait and can see their place."""

    def __init__(self):
        self._lock = threading.Lock()
        self._line: list[object] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._line)

    def join(self) -> object:
        ticket = object()
        with self._lock:
            self._line.append(ticket)
        return ticket

    def ahead_of(self, ticket: object) -> int:
        """How many trainings are ahead of `ticket` (0: it runs)."""
        with self._lock:
            return self._line.index(ticket) if ticket in self._line else 0

    def leave(self, ticket: object) -> None:
        with self._lock:
            if ticket in self._line:
                self._line.remove(ticket)

    async def wait(self, ticket: object, stop: gpu.StopFlag, poll: float = 0.25):
        """Yield the number of trainings ahead whenever it changes, until it is this ticket's turn or `stop` is
        set. It sleeps on the event loop, so a waiting training holds no worker thread."""
        shown = None
        while not stop.is_set():
            ahead = self.ahead_of(ticket)
            if ahead == 0:
                return
            if ahead != shown:
                shown = ahead
                yield ahead
            await asyncio.sleep(poll)


async def in_own_thread(steps, stop: gpu.StopFlag):
    """A blocking generator (a training) run in a thread of its own at a lower priority, its items passed to
    the event loop as they come. If the consumer goes away, `stop` ends the training at the next batch."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue()

    def run():
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICE)
        try:
            for item in steps:
                loop.call_soon_threadsafe(items.put_nowait, (True, item))
            loop.call_soon_threadsafe(items.put_nowait, (False, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            loop.call_soon_threadsafe(items.put_nowait, (False, e))

    # In this request's context: ZeroGPU's @spaces.GPU reads the visitor's request from it (their GPU quota).
    threading.Thread(target=contextvars.copy_context().run, args=(run,), name="training", daemon=True).start()
    try:
        while True:
            more, value = await items.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()  # finished: no effect; abandoned: the training stops at its next batch
