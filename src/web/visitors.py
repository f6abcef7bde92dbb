"""Visitors of a shared server: each one's own files (trained runs, corrections), with limits and idle cleanup.

    visitors = Visitors(root, Limits())     # created once, in app.py, next to the model store
    key = visitors.arrived(hash, key)       # demo.load: the key the browser keeps (gr.BrowserState)
    me = visitors.get(request.session_hash) # a browser (all its tabs) or one gradio_client session
    me.runs, me.corrections                 # their folders: nobody else's handlers ever see them
    visitors.left(hash)                     # demo.unload: open pages keep their files; gone, the idle time runs
    with visitors.working(me): ...          # a training waiting or running keeps their files too
    visitors.sweep()                        # remove the files of visitors gone for longer than the idle time

A visitor is a browser or a gradio_client.Client. A browser keeps a random visitor key (gr.BrowserState,
given on its first visit), so its reloads and tabs are one visitor; a gradio_client session is keyed by
its session hash, the same key as its gr.State. The folder is named by a digest of the key, so no
client-chosen string ever becomes a path. Limits (all set in src/settings.py from the environment):

  - runs per visitor: saving one more removes their oldest run first;
  - corrections per visitor: one more is refused with a message;
  - a total cap on all visitor data: work that would pass it is refused before it starts, with a message
    (a training reserves the room for its run when it joins the line, so a run that trains is saved);
  - a cap per client address: a visitor's files count against every address they came from;
  - idle time: a visitor who left (or an API client that stopped calling) loses their files after it.
    Corrections the visitor chose to share are moved to the shared pool first (VISITOR_DIR/shared), which
    has a cap of its own.
"""

import hashlib
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from src.model.checkpoint import checkpoint_files, is_weights_name
from src.web import corrections
from src.web.clients import address, is_loopback
from src.web.downloads import Staging

log = logging.getLogger(__name__)

KEY = re.compile(r"k-[0-9a-f]{32}")  # a visitor key, kept by their browser (gr.BrowserState)
SHARED = "shared"  # VISITOR_DIR/shared/corrections: shared corrections of visitors who have left
SHARE_MARK = "share"  # a visitor's folder holds this file while they share their corrections
RUN_BYTES = 600_000  # what one saved run takes (weights, JSON, novelty statistics), rounded up
CORRECTION_BYTES = 2_000  # one 28x28 PNG, rounded up
MAX_ADDRESSES_PER_VISITOR = 16  # the addresses a visitor's files count against (a phone changes networks)
MAX_REMEMBERED = 100_000  # visitors whose addresses are remembered; those without files are forgotten first


class LimitReached(Exception):
    """A limit that stops an action; the message says which and what the visitor can do."""


@dataclass(frozen=True)
class Limits:
    runs_per_visitor: int = 3
    corrections_per_visitor: int = 500
    total_bytes: int = 500_000_000
    idle_seconds: float = 3600.0
    bytes_per_address: int = 50_000_000  # all the visitors of one client address together (not loopback)
    shared_bytes: int = 50_000_000  # the shared corrections of visitors who left, together (within total_bytes)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


class Visitor:
    """One visitor's folders. Nothing is created until they store something."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.id = folder.name
        self.runs = folder / "runs"
        self.corrections = folder / "corrections"

    def run_files(self) -> list[Path]:
        """Their trained runs' weights files, oldest first."""
        runs = [p for p in self.runs.glob("*.safetensors") if is_weights_name(p.name)] if self.runs.is_dir() else []
        return sorted(runs, key=lambda p: (p.stat().st_mtime, p.name))

    @property
    def shares(self) -> bool:
        return (self.folder / SHARE_MARK).exists()

    def set_sharing(self, share: bool) -> None:
        if share:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / SHARE_MARK).touch()
        else:
            (self.folder / SHARE_MARK).unlink(missing_ok=True)


class Visitors:
    """All visitors' folders under one root, and the limits on them."""

    def __init__(self, root: Path | str, limits: Limits = Limits(), clock=time.time):
        self.root = Path(root)
        self.limits = limits
        self.clock = clock  # the time activity is stamped with and the sweep counts from (tests set it)
        self.shared_corrections = self.root / SHARED / "corrections"
        self.downloads = Staging()  # copies of their files for download, outside VISITOR_DIR
        self._keys: dict[str, str] = {}  # session hash of an open page -> the visitor key its browser keeps
        self._present: Counter[str] = Counter()  # visitor id -> pages open (demo.load, until demo.unload)
        self._working: Counter[str] = Counter()  # visitor ids with a training waiting or running
        self._reserved = 0  # bytes held for the runs of those trainings
        self._seen: dict[str, float] = {}  # visitor id -> when their folder's mtime was last refreshed
        self._addresses: dict[str, set[str]] = {}  # visitor id -> every client address they came from
        self._at: dict[str, set[str]] = {}  # client address -> the visitor ids that came from it
        self._lock = threading.RLock()  # around checks of the cap and the writes they allow

    # ----------------------------------------------------------------------------------------- who
    def _id(self, session_hash: str | None) -> str:
        if not session_hash:
            raise LimitReached("This action needs a session: open the page, or use a gradio_client.Client.")
        key = self._keys.get(session_hash, session_hash)  # the browser's key, if this session is a page
        return "v-" + hashlib.sha256(str(key).encode()).hexdigest()[:24]

    def of(self, request) -> Visitor:
        """The visitor who sent a Gradio request (gr.Request); see get. Remembers their address (for its cap)."""
        visitor = self.get(request.session_hash if request else None)
        addr = address(request)
        if addr != "unknown" and not is_loopback(addr):
            with self._lock:
                addresses = self._addresses.setdefault(visitor.id, set())
                if addr not in addresses and len(addresses) < MAX_ADDRESSES_PER_VISITOR:
                    addresses.add(addr)
                    self._at.setdefault(addr, set()).add(visitor.id)
                if len(self._addresses) > MAX_REMEMBERED:
                    self._forget(lambda vid: not (self.root / vid).is_dir())
        return visitor

    def _forget(self, gone) -> None:
        """Forget the addresses of the visitors for whom gone(id) is true. Call with the lock held."""
        for vid in [vid for vid in self._addresses if gone(vid)]:
            for addr in self._addresses.pop(vid):
                ids = self._at.get(addr, set())
                ids.discard(vid)
                if not ids:
                    self._at.pop(addr, None)

    def get(self, session_hash: str | None) -> Visitor:
        """The visitor of this session; marks them as active now (their files are kept while they are)."""
        visitor = Visitor(self.root / self._id(session_hash))
        now = self.clock()
        # The folder's mtime is their last activity (it survives a restart); refreshed at most every 30 s.
        if now - self._seen.get(visitor.id, 0.0) > min(30.0, self.limits.idle_seconds / 4) and visitor.folder.is_dir():
            self._touch(visitor)
            self._seen[visitor.id] = now
        return visitor

    def arrived(self, session_hash: str | None, key: str | None = None) -> str | None:
        """A page opened (demo.load). `key` is the visitor key its browser kept (gr.BrowserState) from an
        earlier visit, so that a reload or a second tab is the same visitor with the same runs and
        corrections; a missing or malformed key gets a new random one. Returns the key for the browser."""
        if not session_hash:
            return None
        if not (isinstance(key, str) and KEY.fullmatch(key)):
            key = "k-" + secrets.token_hex(16)
        self._keys[session_hash] = key
        self._present[self.get(session_hash).id] += 1
        return key

    def is_present(self, visitor_id: str) -> bool:
        """Whether a page of this visitor is open."""
        return self._present.get(visitor_id, 0) > 0

    def left(self, session_hash: str | None) -> None:
        """A page was closed (demo.unload): once none of theirs is open, their files go after the idle time."""
        if session_hash:
            visitor_id = self.get(session_hash).id
            self._present[visitor_id] -= 1
            if self._present[visitor_id] <= 0:
                del self._present[visitor_id]
            self._keys.pop(session_hash, None)

    @contextmanager
    def working(self, visitor: Visitor):
        """A training of this visitor, from the moment it joins the line until it is saved: room for its run is
        reserved first (LimitReached if the cap leaves none, before anything is trained), and their files are
        kept however long it waits and runs."""
        with self._lock:
            self._check_room(RUN_BYTES, "a trained model", visitor)
            self._reserved += RUN_BYTES
            self._working[visitor.id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._reserved -= RUN_BYTES
                self._working[visitor.id] -= 1
                if self._working[visitor.id] <= 0:
                    del self._working[visitor.id]
            if visitor.folder.is_dir():
                self._touch(visitor)  # the idle time counts from the end of their training

    def _touch(self, visitor: Visitor) -> None:
        """Mark the visitor's folder as active now."""
        now = self.clock()
        os.utime(visitor.folder, (now, now))

    # --------------------------------------------------------------------------------------- limits
    def usage(self) -> int:
        return folder_size(self.root)

    def _check_room(self, nbytes: int, what: str, visitor: Visitor | None = None) -> None:
        """Refuse `what` with a clear message if `nbytes` more would pass the cap of the visitor's address, or
        (besides the room reserved for trainings under way) the total cap, even after a sweep. Call with the
        lock held."""
        for addr in sorted(self._addresses.get(visitor.id, ())) if visitor is not None else ():
            mine = sum(folder_size(self.root / vid) for vid in self._at.get(addr, ()))
            if mine + nbytes > self.limits.bytes_per_address:
                raise LimitReached(
                    f"Visitors from your network address have stored {mine / 1e6:.0f} MB on this server, the most "
                    f"it keeps for one address ({self.limits.bytes_per_address / 1e6:.0f} MB), so {what} cannot be "
                    "stored now. Delete some of your corrections or runs, or wait until idle visitors' files are "
                    "removed."
                )
        if self.usage() + self._reserved + nbytes <= self.limits.total_bytes:
            return
        self.sweep()
        if self.usage() + self._reserved + nbytes > self.limits.total_bytes:
            raise LimitReached(
                f"This server's storage for visitors is full ({self.limits.total_bytes / 1e6:.0f} MB), so {what} "
                "cannot be stored now. Nothing of yours was lost; try again later, or run the app on your own "
                "machine (`python app.py`) where there is no such limit."
            )

    def check_room_for_run(self, visitor: Visitor) -> None:
        """LimitReached if the caps leave no room for one more run (before a training is admitted)."""
        with self._lock:
            self._check_room(RUN_BYTES, "a trained model", visitor)

    def make_room_for_run(self, visitor: Visitor) -> list[str]:
        """Before saving a run (inside `working`, which reserved its room): remove the visitor's oldest runs
        beyond the limit. Returns the names of the runs removed."""
        with self._lock:
            removed = []
            runs = visitor.run_files()
            while len(runs) >= self.limits.runs_per_visitor:
                oldest = runs.pop(0)
                for p in checkpoint_files(oldest):
                    p.unlink(missing_ok=True)
                removed.append(oldest.name)
            return removed

    def add_correction(self, visitor: Visitor, image28, label: int) -> Path:
        with self._lock:
            n = corrections.count(visitor.corrections)
            if n >= self.limits.corrections_per_visitor:
                raise LimitReached(
                    f"You have stored {n} corrections, the most this server keeps for one visitor. "
                    "Download them, fine-tune on them, or delete them to store more."
                )
            self._check_room(CORRECTION_BYTES, "this correction", visitor)
            return corrections.add(visitor.corrections, image28, label)

    # -------------------------------------------------------------------------------------- cleanup
    def sweep(self, now: float | None = None) -> list[str]:
        """Remove the folders of visitors who are not on the page and have been idle for longer than the
        idle time (their folder's mtime, so this also works after a restart). Shared corrections are moved
        to the shared pool first. Returns the ids removed."""
        now = self.clock() if now is None else now
        removed, shared = [], folder_size(self.shared_corrections)
        for folder in sorted(self.root.glob("v-*")) if self.root.is_dir() else []:
            if (
                folder.name in self._present
                or folder.name in self._working
                or now - folder.stat().st_mtime < self.limits.idle_seconds
            ):
                continue
            visitor = Visitor(folder)
            for p in corrections.files(visitor.corrections) if visitor.shares else []:
                if shared + p.stat().st_size > self.limits.shared_bytes:
                    log.warning("the shared corrections are full: %s's are not kept", folder.name)
                    break
                self.shared_corrections.mkdir(parents=True, exist_ok=True)
                shared += p.stat().st_size
                shutil.move(p, self.shared_corrections / p.name)
            shutil.rmtree(folder, ignore_errors=True)
            self._seen.pop(folder.name, None)
            removed.append(folder.name)
        with self._lock:  # and the addresses of visitors who have no files (left, or never stored anything)
            self._forget(
                lambda vid: vid not in self._present and vid not in self._working and not (self.root / vid).is_dir()
            )
        if removed:
            log.info("removed the files of %d idle visitors", len(removed))
        return removed

    def start_sweeper(self, every_seconds: float = 60.0) -> threading.Thread:
        """A daemon thread that sweeps every `every_seconds`."""

        def loop():
            while True:
                time.sleep(every_seconds)
                try:
                    self.sweep()
                except OSError as e:  # a file vanished or the disk hiccuped: the next round tries again
                    log.warning("sweeping idle visitors failed: %s", e)

        thread = threading.Thread(target=loop, name="visitor-sweeper", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------------------------------ operator
    def all_runs(self) -> list[Path]:
        """Every visitor's runs (weights files), for the operator."""
        return [p for folder in sorted(self.root.glob("v-*")) for p in Visitor(folder).run_files()]

    def shared_correction_files(self) -> list[Path]:
        """Corrections the visitors chose to share: of those still here, and of those who left."""
        present = [
            p
            for folder in sorted(self.root.glob("v-*"))
            if Visitor(folder).shares
            for p in corrections.files(Visitor(folder).corrections)
        ]
        return present + corrections.files(self.shared_corrections)
