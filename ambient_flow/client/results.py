"""A client's own enrichments, back from the host (asked for with `"results": true` in
its hello; docs/protocol.md section 11). The twin of the Godot addon's `results.gd`.

Results arrive as records `{"frame": <frames.jsonl line>, "detail": <enrichment.jsonl
line>}`: on a raw-TCP connection as envelopes tagged `"type": "frame"`
(`TcpTransport.results`), over ZeroMQ from the host's PUB port (`PubResults`).
`result_events` turns a record into what the addon signals: `TranscriptReceived`,
`SpeakerChanged`, `DetectionsChanged`.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import zmq

from ambient_flow.client.tcp import TcpTransport
from ambient_flow.client.transport import CurveKeys, Transport, tcp_endpoint
from ambient_flow.errors import ProtocolError
from ambient_flow.protocol.codec import decode_envelope
from ambient_flow.telemetry import RateLimitedLog

__all__ = [
    "DetectionsChanged",
    "PubResults",
    "ResultEvent",
    "ResultsReader",
    "SpeakerChanged",
    "TranscriptReceived",
    "result_events",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TranscriptReceived:
    """An utterance: `transcript_received(speaker, text)` in the addon."""

    speaker: str
    text: str
    record: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SpeakerChanged:
    """`speaker_changed(speaker)` in the addon."""

    speaker: str
    record: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class DetectionsChanged:
    """What is in view changed: `detections_changed(counts)` in the addon (`{"person": 2}`)."""

    counts: dict[str, int]
    record: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


ResultEvent = TranscriptReceived | SpeakerChanged | DetectionsChanged


def result_events(record: Mapping[str, Any]) -> list[ResultEvent]:
    """The events one result record means (none for a record it does not understand)."""
    frame = record.get("frame")
    detail = record.get("detail")
    if not isinstance(frame, Mapping):
        return []
    detail = detail if isinstance(detail, Mapping) else {}
    kind = frame.get("event_type")
    speaker = frame.get("speaker_prediction")
    speaker = speaker if isinstance(speaker, str) else ""
    full = dict(record)
    if kind == "utterance" and isinstance(frame.get("text_hypothesis"), str):
        return [TranscriptReceived(speaker, frame["text_hypothesis"], full)]
    if kind == "speaker_change" and speaker:
        return [SpeakerChanged(speaker, full)]
    if kind == "detections":
        counts = detail.get("counts")
        if isinstance(counts, Mapping):
            clean = {str(k): int(v) for k, v in counts.items() if isinstance(v, int)}
            return [DetectionsChanged(clean, full)]
    return []


class PubResults:
    """This client's results from the host's PUB port (ZeroMQ): a SUB socket on its topic.

    ZeroMQ filters topics by prefix (`kitchen` also matches `kitchen-2`), so the topic
    part is compared with the name exactly. Reading never blocks; at most `max_pending`
    records wait unread (the oldest are dropped beyond, counted in `dropped`). Under
    `--auth token` the host's PUB port takes ZeroMQ PLAIN (`token`: user name = the topic),
    under `--auth curve` CURVE (`curve`); the hello reply's offer says which (`auth`).
    """

    def __init__(
        self,
        context: zmq.Context[Any],
        host: str,
        port: int,
        topic: str,
        *,
        max_pending: int = 256,
        token: str | None = None,
        curve: CurveKeys | None = None,
    ) -> None:
        self.topic = topic
        self.dropped = 0
        self.unreadable = 0
        self._pending: deque[dict[str, Any]] = deque()
        self._max = max_pending
        self._log = RateLimitedLog(logger)
        self._sock: zmq.Socket[Any] = context.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, max_pending)
        self._sock.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
        if curve is not None:
            curve.apply(self._sock)
        elif token is not None:
            self._sock.setsockopt(zmq.PLAIN_USERNAME, topic.encode("utf-8"))
            self._sock.setsockopt(zmq.PLAIN_PASSWORD, token.encode("utf-8"))
        self._sock.connect(tcp_endpoint(host, port))

    def poll(self) -> list[dict[str, Any]]:
        """Every record that has arrived for this client (never waits)."""
        while True:
            try:
                parts = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(parts) != 2 or parts[0] != self.topic.encode("utf-8"):
                continue  # another client whose name starts with ours
            try:
                head, _ = decode_envelope(parts[1])
                record = json.loads(head)
            except (ProtocolError, ValueError) as exc:
                self.unreadable += 1
                self._log.log(logging.WARNING, "result", "unreadable result: %s", exc)
                continue
            self._pending.append(record)
            if len(self._pending) > self._max:
                self._pending.popleft()
                self.dropped += 1
        out = list(self._pending)
        self._pending.clear()
        return out

    def close(self) -> None:
        self._sock.close(linger=0)


class ResultsReader:
    """What the addon's node does with its results each frame: read what came (from the
    TCP connection, or from the PUB port the hello reply named) and signal each one.

    Attributes:
        events: What the addon would have signalled, in order (the last `keep`).
        last_transcript: The latest transcript (what the test scene shows).
        received: Result records read.
        unavailable: Why results offered over ZeroMQ cannot be read (the host's PUB port
            asks for PLAIN or CURVE, which the addon's godot_zeromq cannot speak), or None.
    """

    def __init__(self, host: str, keep: int = 1000) -> None:
        self.events: deque[ResultEvent] = deque(maxlen=keep)
        self.last_transcript: str | None = None
        self.received = 0
        self.unavailable: str | None = None
        self._host = host
        self._pub: PubResults | None = None

    def read(
        self,
        context: zmq.Context[Any],
        transport: Transport,
        offer: Mapping[str, Any] | None,
    ) -> list[ResultEvent]:
        """Read what has arrived; `offer` is the hello reply's `results` object."""
        if isinstance(transport, TcpTransport):
            records = list(transport.results)
            transport.results.clear()
        else:
            if self._pub is None and offer is not None and offer.get("transport") == "pub":
                self._open_pub(context, offer)
            records = self._pub.poll() if self._pub is not None else []
        out: list[ResultEvent] = []
        for record in records:
            self.received += 1
            out += result_events(record)
        for event in out:
            self.events.append(event)
            if isinstance(event, TranscriptReceived):
                self.last_transcript = event.text
        return out

    def _open_pub(self, context: zmq.Context[Any], offer: Mapping[str, Any]) -> None:
        if "auth" in offer:  # as the addon: say so once, never subscribe in vain
            if self.unavailable is None:
                self.unavailable = f"the host's PUB port needs {offer['auth']}; use transport tcp"
                logger.warning("results unavailable: %s", self.unavailable)
            return
        self._pub = PubResults(context, self._host, int(offer["port"]), str(offer["topic"]))

    def close(self) -> None:
        if self._pub is not None:
            self._pub.close()
            self._pub = None
