"""A load process of the cluster benchmark, run inside a namespace:

    ip netns exec NS python -m bench.cluster.load SPEC.json REPORT.json

Real-time clients (10 audio + 5 video msgs/s each unless the spec says otherwise),
each with a host list: it sends to the first host of its list; with `failover` on, a
host whose connection drops (ZeroMQ's socket monitor: the peer closed it, or ZMTP
heartbeats went unanswered for `heartbeat_timeout_ms`) is left for the next one on
the list, keeping the client's name and sequence numbers. `switch` moves named
clients to another host at a given second (a client reconnecting elsewhere). Audio is
a deterministic tone that changes with the sequence number, so two sessions of the
same stream are byte-comparable. Only the standard library and pyzmq are imported.

The report says, per client, how many audio/video messages went to which host and
the sequence numbers of each host's first and last, and when each failover happened.
"""

from __future__ import annotations

import array
import json
import math
import struct
import sys
import time
from pathlib import Path
from typing import Any

import zmq

__all__ = ["main", "tone"]

_PREFIX = struct.Struct(">II")
_AUDIO = b'{"type":"audio","ts":%d,"seq":%d,"sr":16000,"ch":1,"fmt":"int16","client":"%s"}'
_VIDEO = b'{"type":"video","ts":%d,"seq":%d,"w":%d,"h":%d,"fmt":"jpeg","quality":70,"client":"%s"}'


def tone(seq: int) -> bytes:
    """100 ms of 16 kHz int16: a tone whose pitch depends on `seq % 8`."""
    f = 220.0 * (1 + seq % 8)
    a = array.array("h", (int(8000 * math.sin(2 * math.pi * f * i / 16000)) for i in range(1600)))
    return a.tobytes()


class _Host:
    """PUSH sockets to one host, with a monitor that notices when the host goes away."""

    def __init__(self, ctx: zmq.Context[Any], eps: dict[str, str], hb_ms: int, hb_to: int):
        self.socks: dict[str, zmq.Socket[Any]] = {}
        self.monitors: list[zmq.Socket[Any]] = []
        for kind in ("audio", "video"):
            s = ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.LINGER, 2000)
            s.setsockopt(zmq.SNDHWM, 100_000)  # a busy host makes a queue, not a loss
            if hb_ms:  # 0: no heartbeats (only a closed connection is noticed)
                s.setsockopt(zmq.HEARTBEAT_IVL, hb_ms)
                s.setsockopt(zmq.HEARTBEAT_TIMEOUT, hb_to)
            s.setsockopt(zmq.SNDTIMEO, 0)  # never block: a full queue is counted, not waited on
            self.monitors.append(s.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED))
            s.connect(eps[kind])
            self.socks[kind] = s
        self.connected = False
        self.lost = False

    def poll_events(self) -> None:
        from zmq.utils.monitor import recv_monitor_message

        for m in self.monitors:
            while m.poll(0):
                ev = recv_monitor_message(m)["event"]
                if ev == zmq.EVENT_CONNECTED:
                    self.connected = True
                elif ev == zmq.EVENT_DISCONNECTED and self.connected:
                    self.lost = True

    def close(self, linger: int | None = None) -> None:
        for s in self.socks.values():
            s.disable_monitor()
            s.close(linger=linger)
        for m in self.monitors:
            m.close(linger=0)


def main(spec_path: str, report_path: str) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    ctx = zmq.Context()
    hosts = [
        _Host(ctx, eps, spec.get("heartbeat_ms", 200), spec.get("heartbeat_timeout_ms", 600))
        for eps in spec["hosts"]
    ]
    jpg = Path(spec["jpeg"]).read_bytes()
    wh = tuple(spec.get("wh", (320, 240)))
    clients: list[dict[str, Any]] = [
        {"name": c["name"], "order": list(c["hosts"]), "at": 0, "aseq": 0, "vseq": 0, "per": {}}
        for c in spec["clients"]
    ]
    switch = {s["name"]: (s["at_s"], s["to"]) for s in spec.get("switch", [])}
    failover = bool(spec.get("failover"))
    a_hz, v_hz = spec.get("audio_hz", 10), spec.get("video_hz", 5)
    seconds = float(spec["seconds"])
    tones = [tone(k) for k in range(8)]
    slots, slot_s = 100, 0.01
    due: list[list[tuple[int, int]]] = [[] for _ in range(slots)]
    for i in range(len(clients)):
        for k in range(a_hz):
            due[(i * 7 + k * (slots // a_hz)) % slots].append((i, 0))
        for k in range(v_hz):
            due[(i * 7 + 3 + k * (slots // v_hz)) % slots].append((i, 1))
    # wait (bounded) until every host of the spec is connected, then start on the given wall time
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(h.connected for h in hosts):
        for h in hosts:
            h.poll_events()
        time.sleep(0.01)
    start_at = spec.get("start_at_unix", time.time())
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.monotonic()
    events: list[dict[str, Any]] = []
    blocked = 0
    max_lag = 0.0
    for n in range(int(seconds / slot_s)):
        when = t0 + n * slot_s
        now = time.monotonic()
        if now < when:
            time.sleep(when - now)
        else:
            max_lag = max(max_lag, now - when)
        elapsed = n * slot_s
        for h in hosts:
            h.poll_events()
        for c in clients:
            host = c["order"][c["at"]]
            if failover and hosts[host].lost and c["at"] + 1 < len(c["order"]):
                c["at"] += 1
                events.append(
                    {
                        "client": c["name"],
                        "t_s": round(elapsed, 3),
                        "from": host,
                        "to": c["order"][c["at"]],
                        "aseq": c["aseq"],
                    }
                )
            sw = switch.get(c["name"])
            if sw is not None and elapsed >= sw[0] and c["order"][c["at"]] != sw[1]:
                c["order"][c["at"]] = sw[1]
                events.append(
                    {
                        "client": c["name"],
                        "t_s": round(elapsed, 3),
                        "switch_to": sw[1],
                        "aseq": c["aseq"],
                    }
                )
        ts = time.time_ns() // 1_000_000
        for i, kind in due[n % slots]:
            c = clients[i]
            host = c["order"][c["at"]]
            per = c["per"].setdefault(
                str(host),
                {"audio": 0, "video": 0, "first_aseq": None, "last_aseq": None, "blocked": 0},
            )
            name = c["name"].encode()
            if kind == 0:
                head = _AUDIO % (ts, c["aseq"], name)
                pay = tones[c["aseq"] % 8]
            else:
                head = _VIDEO % (ts, c["vseq"], wh[0], wh[1], name)
                pay = jpg
            msg = _PREFIX.pack(len(head), len(pay)) + head + pay
            try:
                hosts[host].socks["audio" if kind == 0 else "video"].send(msg)
            except zmq.Again:  # nowhere to queue it (host gone, queue full): counted
                per["blocked"] += 1
                blocked += 1
            else:
                if kind == 0:
                    per["audio"] += 1
                    if per["first_aseq"] is None:
                        per["first_aseq"] = c["aseq"]
                    per["last_aseq"] = c["aseq"]
                else:
                    per["video"] += 1
            if kind == 0:
                c["aseq"] += 1
            else:
                c["vseq"] += 1
    for h in hosts:
        h.close(linger=None if not h.lost else 0)
    ctx.term()
    report = {
        "clients": {
            c["name"]: {"audio": c["aseq"], "video": c["vseq"], "per_host": c["per"]}
            for c in clients
        },
        "events": events,
        "blocked": blocked,
        "max_lag_s": round(max_lag, 3),
    }
    Path(report_path).write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
