"""`ambient-flow listen`: subscribe to a host's PUB stream and print what it hears.

Each message is two parts, `[topic = client][envelope]`, the envelope's JSON header
`{"frame": <frames.jsonl line>, "detail": <enrichment.jsonl line>}` (docs/frames.md).
A message that is not that shape is reported on stderr and skipped, never fatal.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import zmq

from ambient_flow.cli.console import frame_line
from ambient_flow.errors import ConfigError, ProtocolError
from ambient_flow.protocol.codec import decode_envelope, parse_header

__all__ = ["add_listen_flags", "decode_message", "listen", "split_server"]

#: The PUB port `--pub-port` binds by default.
PUB_PORT = 5559


def split_server(spec: str, port: int | None, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address -> (host, port).

    A port in `spec` wins over the default; giving it both ways differently is an error.
    """
    host, in_spec = spec, None
    if spec.startswith("["):  # [::1] or [::1]:5557
        end = spec.find("]")
        if end < 0:
            raise ConfigError(f"--server {spec!r}: missing ']'")
        host, rest = spec[1:end], spec[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(f"--server {spec!r}: use [ADDRESS]:PORT")
            in_spec = rest[1:]
    elif spec.count(":") == 1:  # host:port (more colons: a bare IPv6 address)
        host, in_spec = spec.split(":")
    if not host:
        raise ConfigError(f"--server {spec!r}: no host")
    if in_spec is not None:
        if not in_spec.isdigit() or not 0 < int(in_spec) < 65536:
            raise ConfigError(f"--server {spec!r}: the port must be 1..65535")
        if port is not None and port != int(in_spec):
            raise ConfigError(f"--server {spec!r} and --port {port} disagree")
        return host, int(in_spec)
    return host, port if port is not None else default_port


def decode_message(parts: list[bytes]) -> tuple[str, dict[str, Any]]:
    """`[topic][envelope]` -> (client, `{"frame": ..., "detail": ...}`).

    Raises:
        ProtocolError: The message is not that shape.
    """
    if len(parts) != 2:
        raise ProtocolError("frame_count", f"{len(parts)} parts; expected [topic][envelope]")
    header, _payload = decode_envelope(parts[1])
    doc = parse_header(header)
    if not isinstance(doc.get("frame"), dict):
        raise ProtocolError("missing_field", "header has no 'frame' object")
    return parts[0].decode("utf-8", "replace"), doc


def add_listen_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default="127.0.0.1", help="host (or HOST:PORT) to listen to")
    p.add_argument("--port", type=int, help=f"its PUB port (default {PUB_PORT})")
    p.add_argument("--client", help="only this client (default: every client)")
    p.add_argument("--json", action="store_true", help="print each message's JSON header")
    p.add_argument(
        "--auth", choices=["off", "token", "curve"], default="off",
        help="the host's --auth: subscribe as the client of --credentials (PLAIN or CURVE)",
    )  # fmt: skip
    p.add_argument("--credentials", help="a credential file (`auth add` issues it)")
    p.add_argument("--count", type=int, help="stop after this many frames")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--log-level", default="WARNING")


def _authenticate(sub: zmq.Socket[Any], args: argparse.Namespace) -> None:
    """With `--auth token|curve`, subscribe as the credential's client: the host's PUB
    port then sends that client's lines only (an admin's: everyone's)."""
    mode = getattr(args, "auth", "off")
    path = getattr(args, "credentials", None)
    if mode == "off":
        return
    if not path:
        raise ConfigError(f"--auth {mode} needs --credentials FILE")
    from ambient_flow.auth import IssuedCredential
    from ambient_flow.client.transport import CurveKeys

    cred = IssuedCredential.load(path)
    if mode == "curve":
        CurveKeys(cred.server_public, cred.curve_public, cred.curve_secret).apply(sub)
    else:
        sub.setsockopt(zmq.PLAIN_USERNAME, cred.name.encode("utf-8"))
        sub.setsockopt(zmq.PLAIN_PASSWORD, cred.token.encode("utf-8"))


def listen(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Print frames until Ctrl-C, `--count` frames or `--duration` seconds."""
    host, port = split_server(args.server, args.port, PUB_PORT)
    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count {args.count}: must be >= 1")
    stop = stop or threading.Event()
    deadline = None if args.duration is None else time.monotonic() + args.duration
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    _authenticate(sub, args)
    # A prefix subscription; the exact topic is checked below (`kitchen` vs `kitchen2`).
    sub.setsockopt(zmq.SUBSCRIBE, (args.client or "").encode("utf-8"))
    host_part = f"[{host}]" if ":" in host else host
    if ":" in host:
        sub.setsockopt(zmq.IPV6, 1)
    sub.connect(f"tcp://{host_part}:{port}")
    print(f"listening to tcp://{host_part}:{port} (Ctrl-C to stop)", file=sys.stderr)
    shown = bad = 0
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if args.count is not None and shown >= args.count:
                break
            if not sub.poll(200):
                continue
            parts = sub.recv_multipart()
            try:
                client, doc = decode_message(parts)
            except ProtocolError as exc:
                bad += 1
                print(f"skipped a message that is not a frame ({exc})", file=sys.stderr)
                continue
            if args.client is not None and client != args.client:
                continue
            line = (
                json.dumps(doc, ensure_ascii=False)
                if args.json
                else frame_line(client, {**(doc.get("detail") or {}), **doc["frame"]})
            )
            print(line, flush=True)
            shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        sub.close(linger=0)
        ctx.term()
    return 0
