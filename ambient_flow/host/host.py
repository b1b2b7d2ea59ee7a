"""`Host`: the live host inside your own process (what `ambient-flow live` runs).

```python
from ambient_flow import Host

with Host(data_dir="data", pub_port=0) as host:     # Settings keywords, or Host(settings)
    for frame in host.frames(timeout=60):            # enrichments as they are made
        print(frame.client, frame.event_type, frame.text_hypothesis)
```

`start()` builds the graph of `ambient-flow live` (loading the models), runs it with
Bytewax's in-process runner on a background thread, and returns once every port is
bound. `stop()` ends the sources so every stateful step flushes (sessions get their
`session_end`, files are closed), joins the thread and releases the sockets; a host can
be started again afterwards (the models are kept). Enrichments reach the program
through bounded subscriptions (`frames()`, `aframes()`, `on_frame()`), which never hold
the flow up: a reader that falls behind loses its oldest frames, counted.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import bytewax.operators as op

from ambient_flow.config import Settings
from ambient_flow.errors import StartupError
from ambient_flow.graph.host import HostGraph
from ambient_flow.graph.live import build_live
from ambient_flow.host.subscriptions import AsyncSubscription, FrameHub, Subscription
from ambient_flow.models.bundle import Models
from ambient_flow.operators.attribution import Enrichment
from ambient_flow.ports import startup_cause
from ambient_flow.runtime import HostRuntime, run_dataflow
from ambient_flow.sinks.callback import CallbackSink
from ambient_flow.sinks.publish import PUB_READY
from ambient_flow.sources.ready import ReadySignalSource, inputs_ready

__all__ = ["Host"]

logger = logging.getLogger(__name__)

#: A step of the embedding program's own, attached before the flow starts.
Extend = Callable[[HostGraph, HostRuntime], None]


class Host:
    """The live host in this process: start, read enrichments, look at status, stop.

    Args:
        settings: The host's settings; without, `Settings.load` (defaults < the TOML
            file named by `AMBIENT_FLOW_CONFIG` < `AMBIENT_FLOW_*` variables) is used.
        models: Loaded models to run (e.g. `ambient_flow.testing.fakes.models()`);
            by default built from the settings on the first `start()` and kept.
        workers: Bytewax worker threads.
        clock: The liveness clock (unix ns); tests fake it.
        extend: `fn(graph, runtime)` attaches steps of your own before the flow starts.
        **overrides: Settings fields, applied over `settings` (`Host(pub_port=0)`).

    Raises:
        ConfigError: a setting is invalid.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        models: Models | None = None,
        workers: int = 1,
        clock: Callable[[], int] | None = None,
        extend: Extend | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = Settings.load(overrides=overrides)
        elif overrides:
            settings = dataclasses.replace(settings, **overrides)
        self.settings = settings
        self.workers = workers
        self._models = models
        self._clock = clock
        self._extend = extend
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        #: This run's (or, after `stop()`, the last run's) runtime and graph.
        self.runtime: HostRuntime | None = None
        self.graph: HostGraph | None = None
        self._hub: FrameHub[Enrichment] | None = None
        self._fresh = False  # the graph is built and has not run yet

    # -- lifecycle --------------------------------------------------------------------
    def prepare(self) -> HostGraph:
        """Build the graph for the next run (loads the models); `start()` does it if needed.

        Subscriptions made after `prepare()` see every frame of the run.
        """
        with self._lock:
            if (self._fresh or self.running) and self.graph is not None:
                return self.graph  # the run about to start, or the one running
            if self._models is None and self.settings.enrich:
                from ambient_flow.backends.registry import build_models

                self._models = build_models(self.settings)  # kept for later runs
            kwargs: dict[str, Any] = {"settings": self.settings}
            if self._clock is not None:
                kwargs["clock"] = self._clock
            runtime = HostRuntime(**kwargs)
            graph = build_live(runtime, self._models)
            hub: FrameHub[Enrichment] = FrameHub(runtime.telemetry)
            op.input("host_ready", graph.dataflow, ReadySignalSource(runtime))
            if graph.enrich is not None:
                op.output(
                    "host_frames",
                    op.map("host_frame", graph.enrich.enrichments, _value),
                    CallbackSink(hub.publish),
                )
            runtime.telemetry.section("host", lambda: {"subscribers": hub.count()})
            if self._extend is not None:
                self._extend(graph, runtime)
            self.runtime, self.graph, self._hub = runtime, graph, hub
            self._fresh, self._error = True, None
            return graph

    def start(self, timeout: float = 30.0) -> Host:
        """Run the host; returns once every port is bound (the models are loaded before).

        Raises:
            StartupError: a port is taken or a directory is not writable (the flow
                has then stopped; nothing is left running).
            TimeoutError: the ports were not all bound within `timeout` s.
            RuntimeError: the host is already running.
        """
        if self.running:
            raise RuntimeError("the host is already running; stop() it first")
        self.prepare()
        runtime, graph = self._current()
        self._fresh = False
        self._thread = threading.Thread(
            target=self._main, args=(graph, runtime), name="af-host", daemon=True
        )
        self._thread.start()
        expected = {inputs_ready(i) for i in range(self.workers)}
        s = self.settings
        if graph.enrich is not None and s.pub_port:
            expected.add(PUB_READY)
        deadline = time.monotonic() + timeout
        while missing := runtime.wait_ready(expected, 0.05):
            if self._error is not None or not self._thread.is_alive():
                self._fail_start()
            if time.monotonic() > deadline:
                self._abort()
                raise TimeoutError(f"the host did not bind {sorted(missing)} within {timeout} s")
        return self

    def _main(self, graph: HostGraph, runtime: HostRuntime) -> None:
        try:
            run_dataflow(graph.dataflow, self.workers)
        except BaseException as exc:  # surfaced by start() / stop()
            self._error = startup_cause(exc) or exc
            runtime.stop.set()

    def _fail_start(self) -> None:
        error = self._error
        self._abort()
        if error is None:
            raise StartupError("the host's flow ended while starting")
        raise error

    def _abort(self) -> None:
        try:
            self._shutdown(5.0)
        except BaseException:  # the start-up error is the one to report
            logger.debug("error while cleaning up a failed start", exc_info=True)

    def stop(self, timeout: float = 30.0) -> None:
        """End the flow (sessions flushed, files closed), join it, release everything.

        Raises:
            TimeoutError: the flow did not end within `timeout` s.
            BaseException: what ended the flow, if it did not end cleanly.
        """
        error = self._shutdown(timeout)
        if error is not None:
            raise error

    def _shutdown(self, timeout: float) -> BaseException | None:
        runtime, thread = self.runtime, self._thread
        if runtime is None or self._fresh:
            return None  # never started (or prepared only): nothing runs
        runtime.stop.set()
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"the host did not stop within {timeout} s")
        self._thread = None
        if self._hub is not None:
            self._hub.close()  # after the flow flushed: subscribers get every last frame
        runtime.close()
        error, self._error = self._error, None
        return error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Host:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what it makes ----------------------------------------------------------------
    def subscribe(self, maxsize: int = 1000) -> Subscription[Enrichment]:
        """A bounded subscription to the enrichments of this run (`get(timeout)`)."""
        self.prepare()
        return self._current_hub().subscribe(maxsize)

    def frames(self, timeout: float | None = None, maxsize: int = 1000) -> Iterator[Enrichment]:
        """Enrichments as they are made (a blocking iterator).

        Ends when the host stops (after the last frame), or when `timeout` seconds pass
        without a frame. Each call is its own subscriber, from the moment of the call.
        """
        return _iterate(self.subscribe(maxsize), timeout)

    async def aframes(self, maxsize: int = 1000) -> AsyncIterator[Enrichment]:
        """`frames()` for `asyncio`: `async for frame in host.aframes(): ...`."""
        self.prepare()
        sub: AsyncSubscription[Enrichment] = self._current_hub().subscribe_async(maxsize)
        try:
            async for frame in sub:
                yield frame
        finally:
            sub.close()

    def on_frame(
        self, callback: Callable[[Enrichment], object], maxsize: int = 1000
    ) -> Subscription[Enrichment]:
        """Call `callback(frame)` for each enrichment, on a thread of its own (an exception
        is logged and counted as `host_callback_errors`); `close()` the result to stop."""
        self.prepare()
        return self._current_hub().on_frame(callback, maxsize)

    def status(self) -> dict[str, Any]:
        """The status document (what the `stats` control command and status.json hold);
        after `stop()`, the last run's final one."""
        runtime, _ = self._current()
        return runtime.telemetry.status()

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    # -- internals --------------------------------------------------------------------
    def _current(self) -> tuple[HostRuntime, HostGraph]:
        runtime, graph = self.runtime, self.graph
        if runtime is None or graph is None:
            raise RuntimeError("the host is not prepared: call start() first")
        return runtime, graph

    def _current_hub(self) -> FrameHub[Enrichment]:
        if self._hub is None:
            raise RuntimeError("the host is not prepared: call start() first")
        return self._hub


def _value(kv: tuple[str, Enrichment]) -> Enrichment:
    return kv[1]


def _iterate(sub: Subscription[Enrichment], timeout: float | None) -> Iterator[Enrichment]:
    try:
        yield from sub.iterate(timeout)
    finally:
        sub.close()
