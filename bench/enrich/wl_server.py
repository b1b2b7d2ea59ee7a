"""WhisperLive's own server, as the peer of `bench.enrich` (runs in WhisperLive's venv).

    .venv-wl/bin/python bench/enrich/wl_server.py --port P --model DIR [--threads 2]

Imports only the standard library and `whisper_live` (whose pins differ from ours, so it
lives in its own virtual environment). The faster_whisper backend loads the CTranslate2
model directory it is given (the same tiny.en directory our host uses), never a hub
name: `HF_HUB_OFFLINE=1` is set before anything is imported, so a missing file fails
instead of downloading. `single_model=True` is upstream `run_server.py`'s default (one
model shared by all connections, behind a lock). Prints `READY <port>` when listening;
runs until it is terminated.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True, help="a local CTranslate2 Whisper directory")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS (CTranslate2)")
    parser.add_argument("--max-clients", type=int, default=16)
    parser.add_argument("--cache", default="", help="WhisperLive's cache_path (unused offline)")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if not os.path.isfile(os.path.join(args.model, "model.bin")):
        print(f"ERROR no model.bin in {args.model}", flush=True)
        return 2

    import logging

    logging.basicConfig(level=logging.WARNING)
    from whisper_live.server import TranscriptionServer  # type: ignore[import-not-found]

    def announce() -> None:  # the server blocks in serve_forever(); say when it listens
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", args.port), timeout=0.5):
                    print(f"READY {args.port}", flush=True)
                    return
            except OSError:
                time.sleep(0.1)
        print("ERROR server did not listen within 60 s", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    TranscriptionServer().run(
        "127.0.0.1",
        port=args.port,
        backend="faster_whisper",
        faster_whisper_custom_model_path=args.model,
        single_model=True,
        max_clients=args.max_clients,
        max_connection_time=900,
        cache_path=args.cache or os.path.join(tempfile.gettempdir(), "af-bench-wl-cache"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
