"""Sizes of one ingest benchmark run."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Plan"]


@dataclass(frozen=True)
class Plan:
    """Sizes of one run (`full` by default, about 4 minutes; `quick` about 40 s)."""

    repeats: int = 5
    audio_count: int = 60_000
    video_count: int = 10_000
    blast_senders: tuple[int, ...] = (1, 2)
    blast_clients: int = 100  # audio blasts interleave this many clients' sequences
    # the same-work comparison again with 600 messages a client, when the blast above has
    # fewer (its peer then spends much of its time creating each client's file)
    steady_count: int = 0
    steady_repeats: int = 3
    workers2: bool = True  # also measure the flow with -w 2
    client_levels: tuple[int, ...] = (100, 500, 1000, 2000, 3000, 5000)
    w2_levels: tuple[int, ...] = (1000, 2000, 3000, 5000)  # clients with -w 2
    scaleout_clients: int = 2000
    scaleout_modes: tuple[str, ...] = ("1 process", "-w 2", "2 processes")
    client_seconds: float = 6.0
    latency_rate: int = 200
    latency_seconds: float = 5.0
    stall_seconds: float = 6.0
    replay_minutes: float = 20.0
    imagezmq_count: int = 4_000
    idle_seconds: float = 5.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            repeats=1,
            audio_count=10_000,
            steady_count=60_000,
            video_count=1_000,
            blast_senders=(1,),
            client_levels=(100, 1000),
            w2_levels=(1000,),
            scaleout_clients=1000,
            scaleout_modes=("1 process", "2 processes"),  # -w 2: sections 1 and 2b
            client_seconds=4.0,
            latency_seconds=3.0,
            stall_seconds=4.0,
            replay_minutes=2.0,
            imagezmq_count=1_000,
            idle_seconds=3.0,
        )

    @classmethod
    def of(cls, quick: bool) -> Plan:
        return cls.quick() if quick else cls()
