"""The sender: what `ambient-flow send` runs, and a stand-in for the real clients.

`Sender` introduces itself on the control channel (adopting the server's chunk
length, frame rate, resolution and quality unless the options fix them), then
streams audio and video on one thread each, paced on absolute deadlines, while
the calling thread keeps the control channel alive (heartbeats, Lazy Pirate
retries) and the TCP connection serviced. It stops when the duration is reached,
every source has ended, or `stop()` is called (the CLI calls it on Ctrl-C), then
says `bye`.

`stream_capture` plays a `.zmqcap` file back to a server: the recorded parts,
byte for byte, one connection per recorded peer, at the recorded pace or as fast
as possible.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import zmq

from ambient_flow.client.control import (
    ControlOptions,
    ControlSession,
    TcpControlChannel,
    ZmqControlChannel,
)
from ambient_flow.client.hosts import Confirmed, add_stats
from ambient_flow.client.media import (
    AudioSource,
    VideoSource,
    open_audio,
    open_video,
)
from ambient_flow.client.pacing import Clock, Pacer
from ambient_flow.client.sender_options import MediaSettings, SenderOptions, SenderStats
from ambient_flow.client.tcp import TcpTransport
from ambient_flow.client.transport import (
    Transport,
    TransportStats,
    ZmqTransport,
    encode_message,
)
from ambient_flow.errors import ConfigError
from ambient_flow.protocol.codec import audio_header, video_header

__all__ = [
    "MediaSettings",
    "Sender",
    "SenderOptions",
    "SenderStats",
]

logger = logging.getLogger(__name__)

_LOOP_TICK_S = 0.05  # longest the control loop sleeps: how fast it notices media has ended


def unix_ms() -> int:
    """Wall-clock unix milliseconds (the header `ts`)."""
    return time.time_ns() // 1_000_000


class Sender:
    """Streams audio and video to a server until done or stopped. Runs once.

    Args:
        options: What to send and where.
        context: The process's `zmq.Context`; one is created (and terminated) if None.
        stop: The event that ends the run (the CLI sets it on Ctrl-C); made if None.
        clock: Monotonic seconds for pacing (injectable).
        wall_ms: Unix milliseconds for header `ts` (injectable).
    """

    def __init__(
        self,
        options: SenderOptions,
        *,
        context: zmq.Context[Any] | None = None,
        stop: threading.Event | None = None,
        clock: Clock = time.monotonic,
        wall_ms: Callable[[], int] = unix_ms,
    ) -> None:
        self.options = options
        self._context = context
        self._stop = stop or threading.Event()
        self._clock = clock
        self._wall_ms = wall_ms
        self._counts = {"audio": 0, "video": 0}
        self._errors: list[BaseException] = []
        self._transport: Transport | None = None
        self._control: ControlSession | None = None
        self._settings: MediaSettings | None = None
        self._started: float | None = None
        self._ended: float | None = None
        self._ran = False
        # the host list: the current host, what earlier hosts' transports counted, what
        # the current host confirmed, and a lock per channel held while a send uses the
        # transport (a failover swaps it)
        self._host_index = 0
        self._failovers = 0
        self._retired = TransportStats()
        self._confirmed = Confirmed()
        self._send_locks = {"audio": threading.Lock(), "video": threading.Lock()}

    @property
    def stop_event(self) -> threading.Event:
        return self._stop

    def stop(self) -> None:
        """Ask the run to end (safe from any thread or a signal handler)."""
        self._stop.set()

    @property
    def stats(self) -> SenderStats:
        """Counters so far (safe to read while running)."""
        transport = (
            add_stats(self._retired, self._transport.stats.snapshot()) if self._transport else None
        )
        control = self._control.stats if self._control else None
        end = self._ended if self._ended is not None else self._clock()
        return SenderStats(
            audio_chunks=self._counts["audio"],
            video_frames=self._counts["video"],
            audio_sent=transport.audio.sent if transport else 0,
            video_sent=transport.video.sent if transport else 0,
            bytes=transport.bytes if transport else 0,
            drops=transport.drops if transport else 0,
            unconfirmed=transport.unconfirmed if transport else 0,
            reconnects=transport.reconnects if transport else 0,
            connect_failures=transport.connect_failures if transport else 0,
            failovers=self._failovers,
            host=self.options.hosts[self._host_index],
            control=control,
            last_control_reply=control.last_reply if control else None,
            server_config=self._control.config if self._control else None,
            settings=self._settings,
            elapsed_s=end - self._started if self._started is not None else 0.0,
        )

    def run(self) -> SenderStats:
        """Stream until the duration, the end of every source, or `stop()`; then say bye.

        Raises:
            ConfigError / StartupError: A source or endpoint could not be set up.
        """
        if self._ran:
            raise ConfigError("a Sender runs once; make a new one")
        self._ran = True
        self._started = self._clock()
        own_context = self._context is None
        context = self._context if self._context is not None else zmq.Context()
        sources: list[AudioSource | VideoSource] = []
        threads: list[threading.Thread] = []
        try:
            self._transport = self._make_transport(context)
            if self.options.control:
                self._control = self._make_control(context, self._transport)
                self._control.start()
                self._control.wait_for_hello(self.options.hello_wait_s, self._stop)
            self._settings = MediaSettings.resolve(
                self.options, self._control.config if self._control else None
            )
            threads = self._start_media(self._settings, sources)
            self._supervise(threads, context)
            self._raise_thread_error()
            self._transport.drain(self.options.drain_s)
            if self._control is not None and not self._errors:
                self._control.bye()
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=5.0)
            for source in sources:
                source.close()
            if self._control is not None:
                self._control.close()
            if self._transport is not None:
                self._transport.close()
            if own_context:
                context.term()
            self._ended = self._clock()
        return self.stats

    # -- set-up ---------------------------------------------------------------------------
    def _make_transport(self, context: zmq.Context[Any]) -> Transport:
        o = self.options
        if o.transport == "tcp":
            return TcpTransport(o.host, o.tcp_port, max_buffer_bytes=o.tcp_buffer_bytes)
        return ZmqTransport(
            context,
            o.hosts[self._host_index],
            audio_port=o.audio_port,
            video_port=o.video_port,
            sndhwm=o.sndhwm,
            send_block_ms=o.send_block_ms,
            curve=o.curve,
        )

    def _make_control(self, context: zmq.Context[Any], transport: Transport) -> ControlSession:
        o = self.options
        options = ControlOptions(
            client=o.client if o.client is not None else o.hello_name,
            session=o.session,
            capabilities=o.capabilities,
            timeout_s=o.control_timeout_s,
            retries=o.control_retries,
            retry_later_s=o.control_retry_later_s,
            heartbeat=o.heartbeat,
            token=o.token,
        )
        if isinstance(transport, TcpTransport):
            return ControlSession(TcpControlChannel(transport), options, clock=self._clock)
        host = o.hosts[self._host_index]
        channel = ZmqControlChannel(context, host, o.control_port, curve=o.curve)
        return ControlSession(channel, options, clock=self._clock)

    def _start_media(
        self, settings: MediaSettings, sources: list[AudioSource | VideoSource]
    ) -> list[threading.Thread]:
        o = self.options
        audio = video = None
        if o.audio is not None:
            audio = open_audio(
                o.audio, chunk_ms=settings.chunk_ms, sample_rate=settings.sample_rate
            )
            sources.append(audio)
        if o.video is not None:
            video = open_video(
                o.video, width=settings.width, height=settings.height, quality=settings.quality
            )
            sources.append(video)
        origin_mono, origin_wall = self._clock(), self._wall_ms()
        threads = []
        if audio is not None:
            threads.append(
                threading.Thread(
                    target=self._guard,
                    args=(self._audio_loop, audio, origin_mono, origin_wall),
                    name="sender-audio",
                    daemon=True,
                )
            )
        if video is not None:
            threads.append(
                threading.Thread(
                    target=self._guard,
                    args=(self._video_loop, video, origin_mono, origin_wall, settings.fps),
                    name="sender-video",
                    daemon=True,
                )
            )
        for thread in threads:
            thread.start()
        return threads

    def _supervise(self, threads: list[threading.Thread], context: zmq.Context[Any]) -> None:
        """Keep control and the TCP connection going until the media threads end; with a
        host list, move to the next host when the current one stops answering control."""
        while any(t.is_alive() for t in threads) and not self._stop.is_set():
            wait = _LOOP_TICK_S
            if self._control is not None:
                self._control.poll()
                if self._transport is not None:
                    replies = self._control.stats.replies
                    self._confirmed = self._confirmed.update(replies, self._transport.stats)
                if self.options.fallback_hosts and self._control.stats.reachable is False:
                    self._fail_over(context)
                wait = min(wait, max(0.0, self._control.next_wakeup() - self._clock()))
            if self._transport is not None:
                self._transport.service()
            self._stop.wait(wait)

    def _fail_over(self, context: zmq.Context[Any]) -> None:
        """The next host of the list: new sockets and a new hello there (a new session);
        the old sockets closed at once (linger 0), what they held counted (`Confirmed`)."""
        old, old_control = self._transport, self._control
        if old is None or old_control is None:  # pragma: no cover - set before supervising
            return
        dead = self.options.hosts[self._host_index]
        with self._send_locks["audio"], self._send_locks["video"]:
            self._retired = add_stats(self._retired, self._confirmed.retire(old.stats))
            self._host_index = (self._host_index + 1) % len(self.options.hosts)
            old.close()
            self._transport = self._make_transport(context)
        old_control.close()
        self._failovers += 1
        self._confirmed = Confirmed()
        self._control = self._make_control(context, self._transport)
        self._control.start()
        logger.warning(
            "host %s stopped answering control; streaming to %s (a new session there)",
            dead,
            self.options.hosts[self._host_index],
        )

    def _send(self, channel: Literal["audio", "video"], frames: list[bytes]) -> None:
        """One message on the current host's transport (a failover waits for the send)."""
        with self._send_locks[channel]:
            if self._transport is not None:
                self._transport.send(channel, frames)

    def _guard(self, loop: Callable[..., None], *args: Any) -> None:
        try:
            loop(*args)
        except BaseException as exc:  # handed to run(), which re-raises it
            logger.exception("%s failed", threading.current_thread().name)
            self._errors.append(exc)
            self._stop.set()

    def _raise_thread_error(self) -> None:
        if self._errors:
            raise self._errors[0]

    # -- media loops (one thread each) ----------------------------------------------------
    def _extra(self, source: str) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.options.client is not None:
            extra["client"] = self.options.client
        if self.options.token is not None:
            extra["token"] = self.options.token
        if self.options.session is not None:
            extra["session"] = self.options.session
        extra["source"] = source
        return extra

    def _timestamp(self, origin_wall: int, offset_s: float, live: bool) -> int:
        # Paced or live: the wall clock when the chunk was read. Unpaced: where the chunk
        # sits on the stream timeline, so a fast send still carries timestamps a real
        # client would.
        if self.options.realtime or live:
            return self._wall_ms()
        return origin_wall + round(offset_s * 1000)

    def _pacer(self, period_s: float, live: bool, origin: float) -> Pacer:
        pacer = Pacer(
            period_s,
            realtime=self.options.realtime and not live,
            clock=self._clock,
            stop=self._stop,
        )
        pacer.start(origin)
        return pacer

    def _within_duration(self, offset_s: float) -> bool:
        duration = self.options.duration_s
        return duration is None or offset_s < duration - 1e-9

    def _audio_loop(self, source: AudioSource, origin_mono: float, origin_wall: int) -> None:
        if self._transport is None:  # pragma: no cover - set before threads start
            return
        period = source.chunk_samples / source.sample_rate
        pacer = self._pacer(period, source.live, origin_mono)
        extra = self._extra(source.source)
        chunks = iter(source)
        seq = 0
        while self._within_duration(seq * period) and pacer.wait_tick(seq):
            chunk = next(chunks, None)
            if chunk is None:
                break
            ts = self._timestamp(origin_wall, seq * period, source.live)
            header = audio_header(ts, seq, sr=source.sample_rate, ch=source.channels, **extra)
            self._send("audio", encode_message(header, chunk, self.options.encoding))
            self._counts["audio"] = seq = seq + 1

    def _video_loop(
        self, source: VideoSource, origin_mono: float, origin_wall: int, fps: float
    ) -> None:
        if self._transport is None:  # pragma: no cover - set before threads start
            return
        period = 1.0 / fps
        pacer = self._pacer(period, source.live, origin_mono)
        extra = self._extra(source.source)
        frames = iter(source)
        seq = 0
        while self._within_duration(seq * period) and pacer.wait_tick(seq):
            jpeg = next(frames, None)
            if jpeg is None:
                break
            ts = self._timestamp(origin_wall, seq * period, source.live)
            header = video_header(
                ts, seq, w=source.width, h=source.height, quality=source.quality, **extra
            )
            self._send("video", encode_message(header, jpeg, self.options.encoding))
            self._counts["video"] = seq = seq + 1
