"""Two network namespaces joined by a veth pair, removed again whatever happens.

    with Namespaces() as ns:          # root only
        ns.run("a", ["ip", "addr"])   # a command inside namespace a
        ns.ip("b")                    # "10.213.<k>.2"

Each namespace gets `lo` and one end of the pair; traffic between the hosts stays
inside the two namespaces (nothing is routed to the machine's own interfaces). The
names carry this process's pid, so two runs never collide, and a namespace left by a
run that was killed with SIGKILL is found by its prefix and removed by the next run
(`cleanup_stale`), with the processes that run left inside it. Removing a namespace
also removes its veth end; the processes started inside are ended by their owners
(`core.hostproc.HostProcess`, `run.Ctx.close`) before that.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from types import TracebackType

__all__ = ["PREFIX", "Namespaces", "cleanup_stale", "require_root"]

PREFIX = "afcl"


def require_root() -> str | None:
    """Why this cannot run here (not root, no `ip`), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, or with sudo)"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "`ip netns` does not work here (iproute2 missing, or no CAP_SYS_ADMIN)"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cleanup_stale() -> list[str]:
    """Remove namespaces of earlier runs whose process is gone; their names."""
    removed = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        parts = name.split("-")
        ours = len(parts) == 3 and parts[0] == PREFIX and parts[1].isdigit()
        if ours and not _alive(int(parts[1])):
            # what a killed run started inside (its hosts, its loads) goes with it
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


class Namespaces:
    """Namespaces `a` and `b` (more letters work too), a veth pair between a and b."""

    def __init__(self, names: Sequence[str] = ("a", "b"), subnet: int = 213) -> None:
        if len(names) != 2:
            raise ValueError("one veth pair joins exactly two namespaces")
        self.names = tuple(names)
        self._pid = os.getpid()
        self._subnet = subnet
        self._made: list[str] = []

    def ns(self, name: str) -> str:
        return f"{PREFIX}-{self._pid}-{name}"

    def ip(self, name: str) -> str:
        return f"10.{self._subnet}.{self._pid % 250}.{self.names.index(name) + 1}"

    def prefix(self, cmd: Sequence[str], name: str) -> list[str]:
        """`cmd` as run inside namespace `name`."""
        return ["ip", "netns", "exec", self.ns(name), *cmd]

    def run(self, name: str, cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.prefix(cmd, name), capture_output=True, text=True)

    def __enter__(self) -> Namespaces:
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def _setup(self) -> None:
        a, b = self.names
        for n in self.names:
            _ip("netns", "add", self.ns(n))
            self._made.append(self.ns(n))
            self.run(n, ["ip", "link", "set", "lo", "up"]).check_returncode()
        va, vb = f"{PREFIX}{self._pid}{a}", f"{PREFIX}{self._pid}{b}"
        self._veth = {a: va, b: vb}
        # Made inside namespace a, so neither end ever exists in the machine's own namespace.
        pair = ["ip", "link", "add", va, "type", "veth", "peer", "name", vb]
        self.run(a, pair).check_returncode()
        self.run(a, ["ip", "link", "set", vb, "netns", self.ns(b)]).check_returncode()
        for n, dev in ((a, va), (b, vb)):
            self.run(n, ["ip", "addr", "add", f"{self.ip(n)}/24", "dev", dev]).check_returncode()
            self.run(n, ["ip", "link", "set", dev, "up"]).check_returncode()

    def link_down(self, name: str) -> None:
        """Take `name`'s end of the pair down: its host is unreachable, and nobody is told."""
        self.run(name, ["ip", "link", "set", self._veth[name], "down"]).check_returncode()

    def link_up(self, name: str) -> None:
        self.run(name, ["ip", "link", "set", self._veth[name], "up"]).check_returncode()

    def close(self) -> list[str]:
        """Remove what was made (the veth pair goes with its namespaces); what failed."""
        failed = []
        for name in reversed(self._made):
            if _ip("netns", "del", name, check=False).returncode != 0:
                failed.append(name)
        self._made.clear()
        return failed

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
