"""The session writer's own thread: order kept, flushes batched in time, failures raised
on the worker, nothing lost at close, back-pressure instead of loss."""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ambient_flow.sinks.session import SessionWriter
from ambient_flow.sinks.session_thread import SessionWriterThread

from .items import CHUNK, Client


class CountingWriter(SessionWriter):
    """A real `SessionWriter` that counts its flushes."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.flushes = 0

    def flush_sessions(self, touched: Any) -> None:
        self.flushes += 1
        super().flush_sessions(touched)


def _pcm_bytes(path: Path) -> int:
    return path.stat().st_size - 44


def test_written_in_order_flushed_within_the_interval_and_closed(
    tmp_path: Path, alice: Client
) -> None:
    writer = CountingWriter(tmp_path)
    counters: list[dict[str, int]] = []
    thread = SessionWriterThread(writer, flush_s=0.2, on_counters=counters.append)
    thread.put([alice.start()])
    for _ in range(50):  # 50 batches of one chunk, as fast as the worker can hand them over
        thread.put([alice.audio()])
    wav = tmp_path / "sessions" / alice.session / "audio.wav"
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and (
        not wav.exists()
        or _pcm_bytes(wav) < 50 * CHUNK * 2
        or not counters  # reported after the write that the file shows
        or counters[-1]["audio_chunks"] < 50
    ):
        time.sleep(0.01)
    assert _pcm_bytes(wav) == 50 * CHUNK * 2  # flushed without a close, within the interval
    assert writer.flushes < 10  # not one per batch: at most one per 0.2 s
    assert counters and counters[-1]["audio_chunks"] == 50
    thread.put([alice.audio(), alice.end("bye")])
    thread.close()
    writer.close_all("shutdown")
    with wave.open(str(wav), "rb") as r:
        got = np.frombuffer(r.readframes(r.getnframes()), "<i2")
    np.testing.assert_array_equal(got, alice.expected_pcm())  # every sample, in order


class FailingWriter(SessionWriter):
    def write(self, item: object) -> Any:
        raise KeyError("a bug in the writer")


def test_a_failure_on_the_thread_is_raised_on_the_worker(tmp_path: Path, alice: Client) -> None:
    thread = SessionWriterThread(FailingWriter(tmp_path), flush_s=0.05)
    thread.put([alice.start()])
    time.sleep(0.3)  # the thread fails on the first item
    with pytest.raises(RuntimeError, match="session writer thread failed") as info:
        thread.put([alice.audio()])
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(RuntimeError):
        thread.close()


class SlowWriter(SessionWriter):
    """A disk that takes 50 ms per item."""

    def write(self, item: object) -> Any:
        time.sleep(0.05)
        return super().write(item)


def test_a_slow_disk_makes_the_worker_wait_not_lose(tmp_path: Path, alice: Client) -> None:
    writer = SlowWriter(tmp_path)
    thread = SessionWriterThread(writer, flush_s=0.05, max_batches=2)
    thread.put([alice.start()])
    done = threading.Event()

    def worker() -> None:
        for _ in range(8):
            thread.put([alice.audio()])
        done.set()

    t = threading.Thread(target=worker)
    t0 = time.monotonic()
    t.start()
    t.join(5)
    assert done.is_set()
    assert time.monotonic() - t0 >= 0.2  # it had to wait for the disk: only 2 batches queue
    thread.close()
    assert writer.counters["audio_chunks"] == 8
    writer.close_all("shutdown")


class TimedWriter(SessionWriter):
    """A real `SessionWriter` that notes when each item is written."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.written_at: list[float] = []

    def write(self, item: object) -> Any:
        self.written_at.append(time.monotonic())
        return super().write(item)


def test_batches_arriving_together_are_written_together(tmp_path: Path, alice: Client) -> None:
    writer = TimedWriter(tmp_path)
    thread = SessionWriterThread(writer, flush_s=2.0)  # gathers for up to 0.4 s
    thread.put([alice.start()])
    time.sleep(0.02)
    second = time.monotonic()
    thread.put([alice.audio()])
    thread.close()
    # the thread woke for the first batch and waited for the second before writing
    assert len(writer.written_at) == 2
    assert writer.written_at[0] >= second
    writer.close_all("shutdown")
