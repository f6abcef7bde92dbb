"""Who may train, and when a training stops: admission, a visitor's place in the line, Stop, the time limits,
and the grace time after a visitor's last page closed.

    trainings = Trainings(visitors)
    trainings.admit_training(...)             # the events' validator: refused before Gradio's queue
    with trainings._turn(visitor, request) as (ticket, stop): ...   # the handler's place and Stop
    trainings.request_stop(request)           # Stop: only the visitor's own training
    trainings.left(request)                   # a page closed

Each visitor has their own Stop: it stops their running training at the next batch (the completed epochs
are kept), or cancels it while it waits.
"""

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

import gradio as gr

from src import settings
from src.training import gpu
from src.web import clients
from src.web.train_inputs import refuse_if_disabled, settings_problem
from src.web.train_line import TrainingLine
from src.web.visitors import LimitReached, Visitor, Visitors

LEFT_GRACE_SECONDS = 30.0  # after a visitor's last page closed, their training stops unless they come back
RESERVATION_SECONDS = 30.0  # a place taken at admission whose event never came is given back after this
CANCELLED = "Cancelled before it started: nothing was trained."
NO_TRAINING = "You have no training running."


def waiting_text(ahead: int) -> str:
    return (
        f"Waiting for the server: {ahead} training{'s' * (ahead != 1)} ahead of yours "
        f"(you are number {ahead + 1} in line). It starts by itself; Stop cancels it."
    )


def time_up_text(clock) -> str:
    return (
        f" It was stopped at this server's limit of {settings.MAX_TRAINING_MINUTES:g} minutes per training."
        if clock.up
        else ""
    )


@dataclass
class _Place:
    """A visitor's training from admission (before it is queued) until it ends."""

    stop: gpu.StopFlag  # a file: it reaches a forked ZeroGPU worker, as a threading.Event would not
    ticket: object
    addr: str
    since: float
    claimed: bool = False  # its event has started (until then the place may be given back)


class Trainings:
    """One line of trainings for the server, one Stop per visitor.

    A training is admitted before it enters Gradio's queue (`admit`, the events' validator): one per visitor,
    MAX_TRAININGS_PER_ADDRESS per client address, MAX_WAITING_TRAININGS waiting in all, and room for its run.
    Refused, it never holds a queue slot; admitted, it has its place in the line, and its event (whose
    concurrency limit is the line's length) starts at once and waits there without holding a worker.
    """

    def __init__(self, visitors: Visitors):
        self.visitors = visitors
        self.line = TrainingLine()
        self._places: dict[str, _Place] = {}  # visitor id -> their training's place
        self._leaving: dict[str, float] = {}  # visitor id -> when their last page closed, while they train
        self._watcher: threading.Thread | None = None  # the one thread that stops the trainings of those gone
        self._used = clients.Hourly(settings.TRAINING_MINUTES_PER_ADDRESS * 60)  # seconds trained per address and hour
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------ admission
    def _admit(self, visitor: Visitor, addr: str) -> _Place:
        """A place in the line for this visitor, or gr.Error saying why not. Call with the lock held."""
        now = time.monotonic()
        for vid, place in list(self._places.items()):  # places whose event never came
            if not place.claimed and now - place.since > RESERVATION_SECONDS:
                self.line.leave(place.ticket)
                del self._places[vid]
        refused = self._refusal(visitor, addr)
        if refused:
            raise gr.Error(refused, print_exception=False)
        place = _Place(gpu.StopFlag(), self.line.join(), addr, now)
        self._places[visitor.id] = place
        return place

    def _refusal(self, visitor: Visitor, addr: str) -> str | None:
        """Why this visitor cannot take a place in the line now, or None."""
        if visitor.id in self._places:
            return "You already have a training running or waiting: stop it first, or wait for it."
        if sum(p.addr == addr for p in self._places.values()) >= settings.MAX_TRAININGS_PER_ADDRESS:
            return (
                f"{settings.MAX_TRAININGS_PER_ADDRESS} trainings from your network are already running or "
                "waiting on this server, the most it takes from one address. Try again when one has finished."
            )
        if not clients.is_loopback(addr) and self._used.over(addr):
            return (
                f"Trainings from your network have used this server for {settings.TRAINING_MINUTES_PER_ADDRESS} "
                "minutes in the last hour, the most it gives one address. Try again later, or run the app "
                "on your own machine (`python app.py`)."
            )
        if len(self.line) >= 1 + settings.MAX_WAITING_TRAININGS:
            return (
                f"The line of trainings is full ({settings.MAX_WAITING_TRAININGS} waiting besides the one "
                "running). Try again in a few minutes, or run the app on your own machine (`python app.py`)."
            )
        return None

    def admit(self, request: gr.Request | None, *inputs) -> list:
        """The validator of the Train tab's events (before they are queued): [gr.validate] per input. `inputs`
        are the training's (epochs, batch size, learning rate, augment, seed, examples), or none."""
        problem = settings_problem(*[inputs[i] for i in (0, 1, 2, 4, 5)]) if inputs else None
        if problem is None:
            try:
                refuse_if_disabled()
                visitor = self.visitors.of(request)
                with self._lock:
                    self.visitors.check_room_for_run(visitor)
                    self._admit(visitor, clients.address(request))
            except LimitReached as e:
                problem = (0, str(e))
            except gr.Error as e:
                problem = (0, e.message)
        checks = [
            gr.validate(problem is None or problem[0] != i, problem[1] if problem and problem[0] == i else "")
            for i in range(max(1, len(inputs)))
        ]
        return checks if inputs else checks[0]  # one input: Gradio takes the value itself

    def admit_training(
        self, epochs, batch_size, learning_rate, augment, seed, max_examples, request: gr.Request = None
    ):
        return self.admit(request, epochs, batch_size, learning_rate, augment, seed, max_examples)

    def admit_fine_tune(self, choice=None, request: gr.Request = None):
        return self.admit(request)

    @contextmanager
    def _turn(self, visitor: Visitor, request=None):
        """This visitor's place in the line (taken at admission, or now), their Stop, and the room for their run."""
        with self._lock:
            place = self._places.get(visitor.id)
            if place is None or place.claimed:
                place = self._admit(visitor, clients.address(request))
            place.claimed = True
        try:
            with self.visitors.working(visitor):  # room reserved for the run; their files kept meanwhile
                yield place.ticket, place.stop
        except LimitReached as e:  # raised only on entering `working`, before anything was trained
            raise gr.Error(str(e), print_exception=False) from None
        finally:
            self.line.leave(place.ticket)
            with self._lock:
                if self._places.get(visitor.id) is place:
                    del self._places[visitor.id]
            place.stop.clear()

    @contextmanager
    def _clock(self, request, stop):
        """A training's time on this server, from when its turn comes: it stops at MAX_TRAINING_MINUTES (`.up` says
        so), and counts against its address's TRAINING_MINUTES_PER_ADDRESS in the hour."""
        clock, started = SimpleNamespace(up=False), time.monotonic()

        def time_up():
            clock.up = True
            stop.set()

        timer = threading.Timer(settings.MAX_TRAINING_MINUTES * 60, time_up)
        timer.daemon = True
        timer.start()
        try:
            yield clock
        finally:
            timer.cancel()
            addr = clients.address(request)
            if not clients.is_loopback(addr):
                self._used.spend(addr, time.monotonic() - started)

    # ----------------------------------------------------------------------------------------- stop
    def request_stop(self, request: gr.Request = None) -> str:
        """Stop this visitor's training (only theirs): at the next batch if it runs, at once if it waits."""
        place = self._places.get(self.visitors.of(request).id)
        if place is None:
            return NO_TRAINING
        place.stop.set()
        # Waiting, it is cancelled at once, and its training says so with this very message.
        return "Stopping at the next batch…" if self.line.ahead_of(place.ticket) == 0 else CANCELLED

    def stop_from_page(self, request: gr.Request = None) -> None:
        """The Stop button: request_stop; the training's status then says "Stopped…" or "Cancelled…"."""
        if self.request_stop(request) == NO_TRAINING:
            gr.Info(NO_TRAINING)

    def left(self, request: gr.Request = None) -> None:
        """A page closed (call before Visitors.left). If none of the visitor's pages is open LEFT_GRACE_SECONDS
        after their last one closed (a reload is), their training stops, so that nobody waits for a run that
        nobody watches; what it completed is saved among their runs. One thread watches them all."""
        visitor = self.visitors.of(request)
        with self._lock:
            if visitor.id not in self._places:
                return
            self._leaving[visitor.id] = time.monotonic()
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch_leavers, name="leavers", daemon=True)
                self._watcher.start()

    def _watch_leavers(self) -> None:
        """Stops the trainings of visitors gone for LEFT_GRACE_SECONDS; ends when nobody is leaving."""
        while True:
            time.sleep(LEFT_GRACE_SECONDS / 10)
            if self._stop_leavers(time.monotonic()):
                return

    def _stop_leavers(self, now: float) -> bool:
        """Stop the trainings of visitors whose last page closed LEFT_GRACE_SECONDS before `now` and who did not
        come back; True once nobody is leaving (the watcher then ends)."""
        with self._lock:
            due = [vid for vid, closed in self._leaving.items() if now - closed >= LEFT_GRACE_SECONDS]
            places = [(vid, self._places.get(vid)) for vid in due]
            for vid in due:
                del self._leaving[vid]
            done = not self._leaving
            if done:
                self._watcher = None
        for vid, place in places:
            if place is not None and not self.visitors.is_present(vid):
                place.stop.set()
