"""Authentication and identity: `--auth off|token|curve`, the credential directory, ZAP.

See `docs/security.md` for what each mode protects against and what it does not.
"""

from ambient_flow.auth.context import AUTH_MODES, Authenticator, redact
from ambient_flow.auth.store import Credential, CredentialStore, IssuedCredential
from ambient_flow.auth.zap import ZAP_DOMAIN, ZapHandler

__all__ = [
    "AUTH_MODES",
    "ZAP_DOMAIN",
    "Authenticator",
    "Credential",
    "CredentialStore",
    "IssuedCredential",
    "ZapHandler",
    "redact",
]
