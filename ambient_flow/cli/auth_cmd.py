"""`ambient-flow auth init|add NAME|list|revoke NAME`: the credential directory."""

from __future__ import annotations

import argparse
import os

from ambient_flow.auth import CredentialStore
from ambient_flow.config import ENV_PREFIX

__all__ = ["add_auth_parser"]


def add_auth_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    auth = sub.add_parser(
        "auth",
        help="manage who may connect (--auth token|curve): keys and tokens",
        description="The credential directory a host with --auth token or curve reads. "
        "`add` writes issued/NAME.json: copy it to that client (ambient-flow send "
        "--credentials FILE, or the Godot addon's token), then delete it here.",
    )
    auth.add_argument(
        "--dir",
        default=os.environ.get(ENV_PREFIX + "AUTH_DIR", "auth"),
        help=f"the credential directory (default: {ENV_PREFIX}AUTH_DIR or ./auth)",
    )
    verbs = auth.add_subparsers(dest="verb", required=True, metavar="VERB")
    init = verbs.add_parser("init", help="make the directory and the host's CURVE key pair")
    init.add_argument("--force", action="store_true", help="replace an existing server key")
    init.set_defaults(run=_init)
    add = verbs.add_parser("add", help="add a client: a token and a CURVE key pair")
    add.add_argument("name", help="the client's name (it streams and is shown under it)")
    add.add_argument("--admin", action="store_true", help="may read all stats and follow anyone")
    add.set_defaults(run=_add)
    listing = verbs.add_parser("list", help="the clients that may connect")
    listing.set_defaults(run=_list)
    revoke = verbs.add_parser("revoke", help="remove a client (a running host stops admitting it)")
    revoke.add_argument("name")
    revoke.set_defaults(run=_revoke)


def _init(args: argparse.Namespace) -> int:
    store = CredentialStore(args.dir)
    store.init(force=args.force)
    public, _ = store.server_keys()
    print(f"initialised {store.dir}: server public key {public.decode()}")
    return 0


def _add(args: argparse.Namespace) -> int:
    path = CredentialStore(args.dir).add(args.name, admin=args.admin)
    print(f"added {args.name}{' (admin)' if args.admin else ''}; its credential: {path}")
    print("copy that file to the client, then delete it here (it holds the client's secrets)")
    return 0


def _list(args: argparse.Namespace) -> int:
    clients = CredentialStore(args.dir).list()
    if not clients:
        print("no clients")
    for c in clients:
        print(f"{c.name:<32} {'admin' if c.admin else 'client':<6} added {c.added_at}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    CredentialStore(args.dir).revoke(args.name)
    print(f"revoked {args.name}")
    return 0
