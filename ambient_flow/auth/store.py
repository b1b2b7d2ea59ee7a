"""The credential directory (`--auth-dir`, default `auth/`): who may connect, and as whom.

```
auth/
    server.key          the host's CURVE public key (give it to clients)
    server.key_secret   the host's CURVE key pair (only the host reads it)
    clients.json        one entry per client name: the SHA-256 of its token, its CURVE
                        public key, whether it is an admin, when it was added
    issued/NAME.json    what the client needs (its token, its CURVE key pair, the host's
                        public key): copy it to the client, then delete it here
```
The host keeps no token, only its hash, and no client's secret key. Keys are ZeroMQ
certificates (`zmq.auth.create_certificates`), as vidgear's NetGear secure mode uses.
`ambient-flow auth init|add NAME|list|revoke NAME` manages the directory; a running host
notices changes to `clients.json` within a second (a revoked client can connect no more).

Client names are credential names: the sanitized, safe form (`sanitize_client_name`
gives them back unchanged) and never a prefix of another name, because a ZeroMQ
subscription is a prefix: a subscriber allowed `cam` would otherwise also get `cam2`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth

from ambient_flow.errors import ConfigError
from ambient_flow.protocol.identity import sanitize_client_name
from ambient_flow.timefmt import iso_utc

__all__ = ["Credential", "CredentialStore", "IssuedCredential", "token_digest"]

CLIENTS_FILE = "clients.json"
ISSUED_DIR = "issued"
SERVER_KEY = "server.key"
SERVER_SECRET = "server.key_secret"
_RELOAD_S = 1.0


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Credential:
    """What the host knows of one client."""

    name: str
    token_sha256: str
    curve_public: str  # Z85
    admin: bool = False
    added_at: str = ""


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """What a client needs (the `issued/NAME.json` file): load it with `load`."""

    name: str
    token: str
    curve_public: str
    curve_secret: str
    server_public: str

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> IssuedCredential:
        try:
            data = json.loads(Path(path).read_text())
            return cls(**{k: str(data[k]) for k in cls.__slots__})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a credential file made by `auth add` ({exc})") from exc


class CredentialStore:
    """Reads (and, for the CLI, writes) a credential directory. Thread-safe for reading."""

    def __init__(
        self, directory: str | os.PathLike[str], clock: Callable[[], float] = time.monotonic
    ):
        self.dir = Path(directory)
        self._clock = clock
        self._lock = threading.Lock()
        self._by_name: dict[str, Credential] = {}
        self._by_token: dict[str, str] = {}
        self._by_key: dict[str, str] = {}
        self._mtime: float | None = None
        self._checked = -1e18

    # -- the host's side ---------------------------------------------------------------------
    def server_keys(self) -> tuple[bytes, bytes]:
        """(public, secret) of the host, Z85; `ConfigError` naming the fix if missing."""
        path = self.dir / SERVER_SECRET
        try:
            public, secret = zmq.auth.load_certificate(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{path}: no server key ({exc}); run `ambient-flow auth init --dir {self.dir}`"
            ) from exc
        if secret is None:
            raise ConfigError(f"{path} holds no secret key")
        return public, secret

    def check(self) -> None:
        """Start-up check for `--auth token|curve`: the directory can be read."""
        self.server_keys()
        if not (self.dir / CLIENTS_FILE).is_file():
            raise ConfigError(
                f"{self.dir / CLIENTS_FILE} is missing; "
                f"run `ambient-flow auth init --dir {self.dir}`"
            )
        self._reload(force=True)

    def _reload(self, *, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._checked < _RELOAD_S:
            return
        self._checked = now
        path = self.dir / CLIENTS_FILE
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            mtime = None
        if not force and mtime == self._mtime:
            return
        entries = self._read_clients()
        with self._lock:
            self._mtime = mtime
            self._by_name = entries
            self._by_token = {c.token_sha256: c.name for c in entries.values()}
            self._by_key = {c.curve_public: c.name for c in entries.values()}

    def name_for_token(self, token: object) -> str | None:
        """The client a token belongs to (None: no such token)."""
        if not isinstance(token, str) or not 16 <= len(token) <= 256:
            return None
        self._reload()
        digest = token_digest(token)
        with self._lock:
            name = self._by_token.get(digest)
            known = self._by_name.get(name) if name else None
        if known is None or not hmac.compare_digest(known.token_sha256, digest):
            return None
        return name

    def name_for_key(self, z85_public: str) -> str | None:
        """The client a CURVE public key belongs to."""
        self._reload()
        with self._lock:
            return self._by_key.get(z85_public)

    def is_admin(self, name: str) -> bool:
        self._reload()
        with self._lock:
            known = self._by_name.get(name)
        return known is not None and known.admin

    # -- the CLI's side ----------------------------------------------------------------------
    def init(self, *, force: bool = False) -> None:
        """Make the directory (mode 0700), the server key pair and an empty client list."""
        if (self.dir / SERVER_SECRET).exists() and not force:
            raise ConfigError(f"{self.dir} is already initialised (--force makes a new server key)")
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for name in (SERVER_KEY, SERVER_SECRET):
            (self.dir / name).unlink(missing_ok=True)
        zmq.auth.create_certificates(self.dir, "server")
        os.chmod(self.dir / SERVER_SECRET, 0o600)
        if not (self.dir / CLIENTS_FILE).exists():
            self._write_clients({})

    def add(self, name: str, *, admin: bool = False) -> Path:
        """Add a client; returns the path of its issued credential file."""
        if not name or sanitize_client_name(name) != name:
            raise ConfigError(
                f"{name!r} is not a safe client name; use letters, digits, '.', '_' and '-' "
                f"(for example {sanitize_client_name(name or 'client')!r})"
            )
        clients = self._read_clients()
        if name in clients:
            raise ConfigError(f"{name!r} already exists; `auth revoke {name}` first")
        for other in clients:
            if other.startswith(name) or name.startswith(other):
                raise ConfigError(
                    f"{name!r} and {other!r}: one name may not begin with another (a "
                    "subscriber to one would receive the other's enrichments)"
                )
        public, _ = self.server_keys()
        token = secrets.token_urlsafe(32)
        client_public, client_secret = zmq.curve_keypair()
        clients[name] = Credential(
            name, token_digest(token), client_public.decode(), admin, iso_utc(time.time_ns())
        )
        issued = IssuedCredential(
            name, token, client_public.decode(), client_secret.decode(), public.decode()
        )
        path = self.dir / ISSUED_DIR / f"{name}.json"
        path.parent.mkdir(exist_ok=True, mode=0o700)
        _write_private(path, json.dumps(_issued_dict(issued), indent=2) + "\n")
        self._write_clients(clients)
        return path

    def revoke(self, name: str) -> None:
        clients = self._read_clients()
        if clients.pop(name, None) is None:
            raise ConfigError(f"no client {name!r} in {self.dir / CLIENTS_FILE}")
        self._write_clients(clients)
        (self.dir / ISSUED_DIR / f"{name}.json").unlink(missing_ok=True)

    def list(self) -> list[Credential]:
        return sorted(self._read_clients().values(), key=lambda c: c.name)

    def _read_clients(self) -> dict[str, Credential]:
        path = self.dir / CLIENTS_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"{path} is missing; run `ambient-flow auth init`") from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} cannot be read: {exc}") from exc
        out: dict[str, Credential] = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path} is not a JSON object")
        for name, entry in data.items():
            if isinstance(entry, dict):
                out[name] = Credential(
                    name=name,
                    token_sha256=str(entry.get("token_sha256", "")),
                    curve_public=str(entry.get("curve_public", "")),
                    admin=bool(entry.get("admin", False)),
                    added_at=str(entry.get("added_at", "")),
                )
        return out

    def _write_clients(self, clients: dict[str, Credential]) -> None:
        doc: dict[str, Any] = {
            c.name: {
                "token_sha256": c.token_sha256,
                "curve_public": c.curve_public,
                "admin": c.admin,
                "added_at": c.added_at,
            }
            for c in sorted(clients.values(), key=lambda c: c.name)
        }
        _write_private(self.dir / CLIENTS_FILE, json.dumps(doc, indent=2) + "\n")


def _issued_dict(issued: IssuedCredential) -> dict[str, str]:
    return {k: getattr(issued, k) for k in IssuedCredential.__slots__}


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only, replacing it atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
