"""The subcommands. Each takes parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import zmq
from bytewax.dataflow import Dataflow

from ambient_flow.capture.inspect import format_summary, summarize
from ambient_flow.cli.console import TranscriptPrinter
from ambient_flow.cli.display import LiveLine, ProgressBar, format_status, playback_summary
from ambient_flow.cli.listen import split_server
from ambient_flow.cli.settings_flags import settings_from_args
from ambient_flow.errors import ConfigError
from ambient_flow.ports import check_ports, startup_cause
from ambient_flow.protocol import constants as C
from ambient_flow.runtime import HostRuntime, run_dataflow

__all__ = [
    "add_send_flags",
    "add_synth_flags",
    "evaluate",
    "inspect",
    "live",
    "record",
    "replay",
    "send",
    "status",
    "synth",
]

logger = logging.getLogger("ambient_flow.cli")


def _run_flow(flow: Dataflow, runtime: HostRuntime, workers: int) -> None:
    """Run in this thread; Ctrl-C stops cleanly; our own start-up errors come out unwrapped."""
    runtime.stop_on_signals()
    try:
        run_dataflow(flow, workers)
    except Exception as exc:
        cause = startup_cause(exc)
        if cause is not None:
            raise cause from None
        raise
    finally:
        runtime.close()


def live(args: argparse.Namespace) -> int:
    import bytewax.operators as op

    from ambient_flow.graph.live import build_live

    settings = settings_from_args(args, record=args.record or "")
    check_ports(settings)
    runtime = HostRuntime(settings=settings)
    graph = build_live(runtime)
    flow = graph.dataflow
    printer = None
    if graph.enrich is not None and not args.quiet:
        printer = TranscriptPrinter().start()
        op.inspect("console", graph.enrich.enrichments, lambda _step, kv: printer.offer(kv[1]))
    logger.info(
        "live host: audio :%d video :%d control :%d tcp :%s on %s; sessions in %s%s",
        settings.audio_port,
        settings.video_port,
        settings.control_port,
        settings.tcp_port or "off",
        settings.bind,
        Path(settings.data_dir).resolve(),
        f"; recording to {settings.record}" if settings.record else "",
    )
    line = (
        LiveLine(runtime.telemetry.status, args.line_interval) if args.line_interval > 0 else None
    )
    if line:
        line.start()
    try:
        _run_flow(flow, runtime, args.workers)
    finally:
        if line:
            line.stop()
        if printer:
            printer.stop()
    return 0


def record(args: argparse.Namespace) -> int:
    from ambient_flow.graph.record import build_record

    settings = settings_from_args(args, record=args.out)
    check_ports(settings)
    runtime = HostRuntime(settings=settings)
    flow = build_record(runtime)
    timer = None
    if args.duration:
        timer = threading.Timer(args.duration, runtime.stop.set)
        timer.daemon = True
        timer.start()
    logger.info("recording to %s (Ctrl-C to stop)", args.out)
    try:
        _run_flow(flow, runtime, 1)
    finally:
        if timer:
            timer.cancel()
    print(format_summary(summarize(args.out)))
    return 0


def replay(args: argparse.Namespace) -> int:
    from ambient_flow.graph.replay import build_replay, replay_settings

    base = settings_from_args(args)
    settings = dataclasses.replace(
        replay_settings(args.capture, base, args.data_dir), realtime=args.realtime
    )
    runtime = HostRuntime(settings=settings, replay=True)
    flow = build_replay(runtime, args.capture).dataflow
    bar = ProgressBar(runtime.telemetry.status).start()
    try:
        _run_flow(flow, runtime, args.workers)
    finally:
        bar.stop()
    doc = runtime.telemetry.status()
    print(
        f"replayed {doc['replay']['records']} records: {doc['audio']['chunks_received']} audio "
        f"chunks, {doc['video']['frames_received']} frames, {sum(doc['rejects'].values())} "
        f"rejected; sessions in {Path(settings.data_dir) / 'sessions'}"
    )
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from ambient_flow.cli.evaluate import main_eval

    return main_eval(args)


def inspect(args: argparse.Namespace) -> int:
    target = Path(args.capture)
    if target.is_dir():  # a session directory
        from ambient_flow.cli.plot import plot_session, session_summary

        if not (target / "metadata.json").exists():
            raise ConfigError(f"{target} is not a session directory (no metadata.json)")
        print(session_summary(target))
        if args.plot:
            print(f"timeline: {plot_session(target, Path(args.plot))}")
        return 0
    if args.plot:
        raise ConfigError("--plot draws a session directory, not a capture file")
    summary = summarize(args.capture)
    print(json.dumps(summary.to_dict(), indent=2) if args.json else format_summary(summary))
    return 0


def status(args: argparse.Namespace) -> int:
    from ambient_flow.client.transport import CurveKeys

    credential = _credentials(args)
    request: dict[str, Any] = {"cmd": "stats"}
    host, port = split_server(args.server, args.port, C.CONTROL_PORT)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    if credential is not None and args.auth == "curve":
        CurveKeys(credential.server_public, credential.curve_public, credential.curve_secret).apply(
            sock
        )
    elif credential is not None:
        request["token"] = credential.token
    try:
        if ":" in host:
            sock.setsockopt(zmq.IPV6, 1)
        sock.connect(f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}")
        sock.send_json(request)
        if not sock.poll(int(args.timeout * 1000)):
            print(
                f"ambient-flow status: no answer from {host}:{port} within "
                f"{args.timeout:g} s (is the host running? is the port right?)",
                file=sys.stderr,
            )
            return 1
        reply = sock.recv_json()
    finally:
        sock.close()
        ctx.term()
    if not isinstance(reply, dict) or "stats" not in reply:
        print(f"ambient-flow status: unexpected reply {reply!r:.200}", file=sys.stderr)
        return 1
    print(json.dumps(reply["stats"], indent=2) if args.json else format_status(reply["stats"]))
    return 0


# -- send -----------------------------------------------------------------------------
def add_send_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        default="127.0.0.1",
        help="host address, or a comma-separated host list (same ports; the next host when "
        "the current stops answering control: docs/cluster.md)",
    )
    p.add_argument("--audio-port", type=int, default=C.AUDIO_PORT)
    p.add_argument("--video-port", type=int, default=C.VIDEO_PORT)
    p.add_argument("--control-port", type=int, default=C.CONTROL_PORT)
    p.add_argument("--tcp-port", type=int, default=C.TCP_PORT)
    p.add_argument("--transport", choices=["zmq", "tcp"], default="zmq")
    p.add_argument(
        "--encoding",
        choices=["envelope", "multipart"],
        default="envelope",
        help="ZeroMQ message shape (envelope: what real clients send)",
    )
    p.add_argument(
        "--client", help="client name in every header (default: none, like real clients)"
    )
    p.add_argument(
        "--name",
        help="name said in hello when --client is not given (as real "
        "clients do: a named hello, then data with no client field); with --capture, "
        "the recorded client's new name",
    )
    p.add_argument("--session", help="session id in every header")
    p.add_argument(
        "--audio", default="sine", help="sine | chirp | mic | none | a WAV file (any rate/channels)"
    )
    p.add_argument(
        "--video", default="pattern", help="pattern | webcam | none | a JPEG/PNG file or folder"
    )
    p.add_argument("--frequency", type=float, default=440.0, help="sine/chirp start (Hz)")
    p.add_argument("--chunk-ms", type=int, help="audio chunk (default: the server's)")
    p.add_argument("--fps", type=float, help="video rate (default: the server's)")
    p.add_argument("--size", help="WxH video size (default: the server's)")
    p.add_argument("--quality", type=int, help="JPEG quality (default: the server's)")
    p.add_argument("--duration", type=float, help="seconds to send (default: until Ctrl-C)")
    p.add_argument("--fast", action="store_true", help="as fast as possible, not real time")
    p.add_argument("--no-control", action="store_true", help="no hello/heartbeat/bye")
    p.add_argument("--capture", help="send this .zmqcap instead, at recorded pace")
    p.add_argument(
        "--profile",
        choices=["default", "godot"],
        default="default",
        help="godot: behave like the Redot/Godot addon (stereo capture at "
        "--mix-rate, its resampler and chunking, single-frame envelopes)",
    )
    p.add_argument(
        "--mix-rate",
        type=int,
        choices=[44100, 48000],
        default=48000,
        help="godot profile: the engine's capture rate",
    )
    p.add_argument(
        "--auth",
        choices=["off", "token", "curve"],
        default="off",
        help="what the host asks for (its --auth); needs --credentials",
    )
    p.add_argument("--credentials", help="this client's credential file (`auth add` issues it)")
    p.add_argument("--log-level", default="INFO")


def _credentials(args: argparse.Namespace) -> Any:
    from ambient_flow.auth import IssuedCredential

    if not args.credentials:
        if args.auth != "off":
            raise ConfigError(f"--auth {args.auth} needs --credentials FILE")
        return None
    return IssuedCredential.load(args.credentials)


def _audio_options(spec: str, frequency: float) -> Any:
    from ambient_flow.client import MicOptions, ToneOptions, WavOptions

    if spec == "none":
        return None
    if spec in ("sine", "chirp"):
        return ToneOptions(kind=spec, frequency_hz=frequency)  # type: ignore[arg-type]
    if spec == "mic":
        return MicOptions()
    if not Path(spec).is_file():
        raise ConfigError(f"--audio {spec!r}: not sine/chirp/mic/none and no such WAV file")
    return WavOptions(path=spec)


def _video_options(spec: str) -> Any:
    from ambient_flow.client import ImageOptions, PatternOptions, WebcamOptions

    if spec == "none":
        return None
    if spec == "pattern":
        return PatternOptions()
    if spec == "webcam":
        return WebcamOptions()
    if not Path(spec).exists():
        raise ConfigError(f"--video {spec!r}: not pattern/webcam/none and no such file or folder")
    return ImageOptions(path=spec)


def _size(spec: str | None) -> tuple[int | None, int | None]:
    if not spec:
        return None, None
    try:
        w, h = (int(x) for x in spec.lower().split("x"))
    except ValueError as exc:
        raise ConfigError(f"--size {spec!r}: use WxH, e.g. 640x480") from exc
    return w, h


def send(args: argparse.Namespace) -> int:
    from ambient_flow.client import PlaybackOptions, Sender, SenderOptions, stream_capture
    from ambient_flow.client.hosts import parse_hosts

    stop = threading.Event()
    hosts = parse_hosts(args.server)
    if len(hosts) > 1 and (args.capture or args.profile == "godot"):
        raise ConfigError("a host list (--server a,b) works with the plain sender only")
    if args.capture:
        opts = PlaybackOptions(
            host=args.server,
            audio_port=args.audio_port,
            video_port=args.video_port,
            control_port=args.control_port,
            tcp_port=args.tcp_port,
            realtime=not args.fast,
            name=args.client or args.name,
        )
        _stop_on_ctrl_c(stop)
        result = stream_capture(args.capture, opts, stop=stop)
        print(playback_summary(args.capture, result, opts.name))
        return 0
    if args.profile == "godot":
        return _send_godot(args)
    width, height = _size(args.size)
    options = SenderOptions(
        host=hosts[0],
        fallback_hosts=hosts[1:],
        audio_port=args.audio_port,
        video_port=args.video_port,
        control_port=args.control_port,
        tcp_port=args.tcp_port,
        transport=args.transport,
        encoding=args.encoding,
        client=args.client,
        hello_name=args.name,
        session=args.session,
        audio=_audio_options(args.audio, args.frequency),
        video=_video_options(args.video),
        chunk_ms=args.chunk_ms,
        fps=args.fps,
        width=width,
        height=height,
        quality=args.quality,
        duration_s=args.duration,
        realtime=not args.fast,
        control=not args.no_control,
        auth=args.auth,
        credentials=_credentials(args),
    )
    sender = Sender(options)
    _stop_on_ctrl_c(sender.stop_event)
    stats = sender.run()
    print(
        f"sent {stats.audio_sent}/{stats.audio_chunks} audio chunks, {stats.video_sent}/"
        f"{stats.video_frames} frames, {stats.bytes / 1e6:.2f} MB in {stats.elapsed_s:.1f} s; "
        f"drops {stats.drops}, unconfirmed {stats.unconfirmed} (written to a connection that "
        f"broke or left), reconnects {stats.reconnects}"
        + (f", failovers {stats.failovers} (now on {stats.host})" if stats.failovers else "")
        + ("" if stats.server_config else "; the server never answered hello (defaults used)")
    )
    return 0


def _send_godot(args: argparse.Namespace) -> int:
    from ambient_flow.client.godot import GodotProfileOptions, run_godot_profile

    width, height = _size(args.size)
    options = GodotProfileOptions(
        host=args.server, audio_port=args.audio_port, video_port=args.video_port,
        control_port=args.control_port, tcp_port=args.tcp_port, transport=args.transport,
        client=args.client or args.name or "godot-client",
        header_client=args.client is not None, session=args.session,
        mix_rate=args.mix_rate, tone_hz=args.frequency, video=args.video != "none",
        chunk_ms=args.chunk_ms, fps=args.fps, width=width, height=height,
        quality=args.quality, duration_s=args.duration, realtime=not args.fast,
        token=_godot_token(args),
    )  # fmt: skip
    stop = threading.Event()
    _stop_on_ctrl_c(stop)
    stats = run_godot_profile(options, stop=stop)
    print(
        f"godot profile: sent {stats.audio_sent}/{stats.audio_chunks} audio chunks "
        f"({stats.audio_dropped} dropped), {stats.video_sent}/{stats.video_frames} frames "
        f"({stats.video_replaced} replaced), {stats.bytes / 1e6:.2f} MB"
    )
    return 0


def _godot_token(args: argparse.Namespace) -> str | None:
    """The addon speaks `token` only (godot_zeromq has no CURVE)."""
    credential = _credentials(args)
    if credential is None:
        return None
    if args.auth == "curve" and args.transport != "tcp":
        raise ConfigError("--profile godot cannot do CURVE; use --auth token, or --transport tcp")
    return str(credential.token)


def _stop_on_ctrl_c(event: threading.Event) -> None:
    import signal

    def handle(signum: int, frame: object) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


# -- synth ----------------------------------------------------------------------------
def add_synth_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="the .zmqcap to write")
    p.add_argument("--audio", default="sine", help="sine | chirp | none | a WAV file")
    p.add_argument("--video", default="pattern", help="pattern | none | a JPEG/PNG file or folder")
    p.add_argument("--frequency", type=float, default=440.0)
    p.add_argument("--duration", type=float, default=10.0, help="seconds of stream")
    p.add_argument("--fps", type=float, default=float(C.VIDEO_FPS))
    p.add_argument("--size", default=f"{C.VIDEO_WIDTH}x{C.VIDEO_HEIGHT}", help="WxH")
    p.add_argument("--quality", type=int, default=C.VIDEO_QUALITY)
    p.add_argument("--client", help="client name in headers (default: none, like real clients)")
    p.add_argument("--transport", choices=["zmq", "tcp"], default="zmq")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start-ms", type=int, default=1_700_000_000_000, help="ts of the first chunk")
    p.add_argument("--log-level", default="WARNING")


def synth(args: argparse.Namespace) -> int:
    from ambient_flow.client import SynthOptions, synthesize_capture

    width, height = _size(args.size)
    if args.video not in ("pattern", "none") and not Path(args.video).exists():
        raise ConfigError(f"--video {args.video!r}: no such file or folder")
    options = SynthOptions(
        audio=_audio_options(args.audio, args.frequency) if args.audio != "mic" else None,
        video=_video_options(args.video),
        duration_s=args.duration,
        fps=args.fps,
        width=width or C.VIDEO_WIDTH,
        height=height or C.VIDEO_HEIGHT,
        quality=args.quality,
        client=args.client,
        transport=args.transport,
        seed=args.seed,
        start_unix_ms=args.start_ms,
    )
    result = synthesize_capture(args.out, options)
    print(format_summary(summarize(result.path)))
    return 0
