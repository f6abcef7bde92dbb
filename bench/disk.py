"""Visitors' disk use on a public server: many visitors train and store corrections, some leave.

    python -m bench.disk [--visitors 50] [--cap-mb 15] [--idle-seconds 20] [--stay 10] [--workers 8]

Starts `python app.py` in a temporary folder with VISITOR_DATA_MB=--cap-mb and VISITOR_IDLE_MINUTES set
from --idle-seconds. Then --visitors gradio_client sessions, --workers at a time, each:
  1. draws 10 digits and stores a correction for each (/predict, /correct);
  2. trains 1 epoch on 1,000 examples (/train), waiting for its turn in the line.
The first --stay visitors stay: they keep drawing (/predict every 2 s) until the end. All the others leave
as soon as they are done (they stop calling; an API client has no tab to close).

While it runs, the size of VISITOR_DIR is sampled every 0.2 s. At the end, after the idle time (and a
sweep), it prints: the largest size seen against the cap; how many runs were saved and how many were
refused, with the message; whether the folders of the visitors who left are gone; and whether every file
of the visitors who stayed (10 corrections, and their run if it was saved) is still there.
"""

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.launch import client, pad_values, start_app
from src.web import corrections
from src.web.visitors import Visitors, folder_size

SHORT_RUN = dict(epochs=1, batch_size=128, learning_rate=0.005, augment=False, max_examples=1000)  # a run a second


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--visitors", type=int, default=50)
    p.add_argument("--cap-mb", type=float, default=15.0)
    p.add_argument("--idle-seconds", type=float, default=20.0)
    p.add_argument("--stay", type=int, default=10, help="visitors who stay active until the end")
    p.add_argument("--workers", type=int, default=8, help="visitors acting at the same time")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        visitor_dir = tmp / "visitors"
        drawings = pad_values()
        app = start_app(
            tmp, env={"VISITOR_DATA_MB": str(args.cap_mb), "VISITOR_IDLE_MINUTES": str(args.idle_seconds / 60)}
        )
        sizes, done = [], threading.Event()

        def sample():
            while not done.is_set():
                try:
                    sizes.append(folder_size(visitor_dir))
                except OSError:  # a file removed while it was being measured
                    pass
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        clients = [client(app.url) for _ in range(args.visitors)]
        staying = clients[: args.stay]
        results: dict[int, str] = {}

        def keep_drawing(session):
            while not done.is_set():
                session.predict(drawings[0], api_name="/predict")
                time.sleep(2.0)

        def visit(i):
            session = clients[i]
            try:
                for k, drawing in enumerate(drawings):
                    session.predict(drawing, api_name="/predict")
                    session.predict(str(k % 10), api_name="/correct")
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = f"failed before training: {type(e).__name__}: {e}"
                return
            try:
                final = session.predict(**SHORT_RUN, seed=i, api_name="/train")
                results[i] = final[2]
            except Exception as e:  # noqa: BLE001 - a refusal is a message, reported below
                results[i] = f"refused: {e}"
            if session in staying:
                keep_drawing(session)

        started = time.perf_counter()
        pool = ThreadPoolExecutor(args.workers + args.stay)  # the staying ones keep a thread each
        futures = [pool.submit(visit, i) for i in range(args.visitors)]
        while len(results) < args.visitors:
            time.sleep(0.5)
        took = time.perf_counter() - started
        print(
            f"{args.visitors} visitors stored 10 corrections each and trained 1 epoch on 1,000 examples "
            f"in {took:.0f} s; cap {args.cap_mb:.0f} MB, idle time {args.idle_seconds:.0f} s"
        )
        time.sleep(args.idle_seconds * 1.25 + 2)  # the sweeper runs every idle/4 s
        done.set()
        pool.shutdown(wait=True)
        for f in futures:
            f.result()

        saved = [m for m in results.values() if m.startswith("Finished")]
        refused = [m for m in results.values() if not m.startswith("Finished")]
        print(
            f"largest size of all visitor data seen: {max(sizes) / 1e6:.1f} MB "
            f"(cap {args.cap_mb:.0f} MB, {len(sizes)} samples): "
            f"{'under' if max(sizes) <= args.cap_mb * 1e6 else 'OVER'} the cap"
        )
        print(f"runs saved: {len(saved)}; refused with a message (a correction or the run, at the cap): {len(refused)}")
        for message in sorted(set(refused))[:2]:
            print(f"    {message[:300]}")
        view = Visitors(visitor_dir)
        left = [view.get(c.session_hash) for c in clients[args.stay :]]
        stayed = [(i, view.get(c.session_hash)) for i, c in enumerate(staying)]
        remaining = [v for v in left if v.folder.exists()]
        print(f"visitors who left: {len(left)}; their folders still there after the idle time: {len(remaining)}")
        intact = sum(
            corrections.count(v.corrections) == 10 and (len(v.run_files()) == 1) == results[i].startswith("Finished")
            for i, v in stayed
        )
        print(f"visitors who stayed: {len(stayed)}; with all their files (10 corrections and their run): {intact}")
        for i, v in stayed:
            print(
                f"    visitor {i}: {corrections.count(v.corrections)} corrections, {len(v.run_files())} runs; "
                f"training: {results[i][:60]}"
            )
        print(f"visitor data now: {folder_size(visitor_dir) / 1e6:.1f} MB")
        unexpected = [m for m in results.values() if m.startswith("failed") and "storage for visitors is full" not in m]
        if not app.alive() or unexpected:  # show why (limits reached are messages, not failures)
            print(app.log_tail())
        app.stop()


if __name__ == "__main__":
    main()
