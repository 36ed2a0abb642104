"""The credentials files of HTTP Basic (htpasswd) and Digest (htdigest) authentication, and the password
hashes they hold: parsing, the check at start (a file that cannot work exits naming the file and line),
reloading when a file changes, and verifying a password (bcrypt, apr1/MD5-crypt, ``{SHA}``), as
``github.com/abbot/go-http-auth`` v0.4.0 does (``basic.go``, ``md5crypt.go``, ``users.go``) for
cAdvisor's ``--http_auth_file``/``--http_digest_file`` (:mod:`pycadvisor.api.auth` uses them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)


def _bcrypt() -> ModuleType:
    """The bcrypt library, imported by name on the first bcrypt hash: its native module costs about 0.5 MiB
    of RSS that a daemon without a bcrypt htpasswd entry need not carry (importing a dependency when the
    feature is used is the house's accepted exception to imports at the top, as storage/registry.py)."""
    return importlib.import_module("bcrypt")


# ------------------------------------------------------------------ password hashes

_ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _to64(value: int, n: int) -> bytes:
    out = bytearray()
    for _ in range(n):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return bytes(out)


def md5_crypt(password: bytes, salt: bytes, magic: bytes = b"$1$") -> bytes:
    """Return the MD5-crypt hash ``magic + salt + "$" + digest`` (FreeBSD md5crypt; Apache ``$apr1$``).

    Port of Poul-Henning Kamp's ``crypt_md5.c`` as in go-http-auth ``md5crypt.go``; Apache's apr1
    differs only in the magic string.
    """
    salt = salt[:8]
    final = hashlib.md5(password + salt + password).digest()
    ctx = bytearray(password + magic + salt)
    n = len(password)
    while n > 0:
        ctx += final[: min(16, n)]
        n -= 16
    i = len(password)
    while i:
        ctx += b"\x00" if i & 1 else password[:1]
        i >>= 1
    final = hashlib.md5(ctx).digest()
    for i in range(1000):
        h = hashlib.md5()
        h.update(password if i & 1 else final)
        if i % 3:
            h.update(salt)
        if i % 7:
            h.update(password)
        h.update(final if i & 1 else password)
        final = h.digest()
    f = final
    encoded = (
        _to64((f[0] << 16) | (f[6] << 8) | f[12], 4)
        + _to64((f[1] << 16) | (f[7] << 8) | f[13], 4)
        + _to64((f[2] << 16) | (f[8] << 8) | f[14], 4)
        + _to64((f[3] << 16) | (f[9] << 8) | f[15], 4)
        + _to64((f[4] << 16) | (f[10] << 8) | f[5], 4)
        + _to64(f[11], 2)
    )
    return magic + salt + b"$" + encoded


def hash_scheme(secret: str) -> str | None:
    """Name the htpasswd scheme of ``secret`` (``bcrypt``, ``md5``, ``sha``), or ``None`` if not accepted.

    As in go-http-auth ``basic.go`` ``compareFuncs``: ``{SHA}``, bcrypt ``$2a$ $2b$ $2x$ $2y$``, MD5-crypt
    ``$1$``/``$apr1$``. Plain text (and crypt(3) DES, SHA-256/512-crypt) never match there, so they are
    refused here.
    """
    if secret.startswith("{SHA}"):
        return "sha"
    if secret[:4] in ("$2a$", "$2b$", "$2x$", "$2y$"):
        return "bcrypt"
    if secret.startswith(("$apr1$", "$1$")) and secret.count("$") == 3:
        return "md5"
    return None


def check_password(password: bytes, secret: str) -> bool:
    """Whether ``password`` matches the htpasswd hash ``secret`` (constant-time compare)."""
    scheme = hash_scheme(secret)
    if scheme == "sha":
        want = secret[5:].encode()
        got = base64.b64encode(hashlib.sha1(password).digest())
        return hmac.compare_digest(got, want)
    if scheme == "bcrypt":
        hashed = secret.encode()
        if hashed.startswith(b"$2x$"):
            # Go's x/crypto/bcrypt treats every minor version alike; so does checking it as $2a$.
            hashed = b"$2a$" + hashed[4:]
        try:
            return bool(_bcrypt().checkpw(password, hashed))
        except ValueError:  # malformed hash
            return False
    if scheme == "md5":
        _, magic, salt, _ = secret.split("$")
        got = md5_crypt(password, salt.encode(), f"${magic}$".encode())
        return hmac.compare_digest(got, secret.encode())
    return False


def hash_weight(secret: str) -> tuple[int, int]:
    """How costly checking a password against ``secret`` is, comparable: (scheme rank, bcrypt cost)."""
    scheme = hash_scheme(secret)
    if scheme == "bcrypt":
        try:
            return (3, int(secret[4:6]))
        except ValueError:
            return (3, 0)
    return ({"md5": 2, "sha": 1}.get(scheme or "", 0), 0)


def dummy_like(secret: str) -> str:
    """A hash of a random password of the same kind and cost as ``secret`` ("" for none accepted)."""
    password = secrets.token_bytes(16)
    scheme = hash_scheme(secret)
    if scheme == "bcrypt":
        bc = _bcrypt()
        return str(bc.hashpw(password, bc.gensalt(rounds=hash_weight(secret)[1] or 10)).decode())
    if scheme == "md5":
        return md5_crypt(password, secrets.token_hex(4).encode(), b"$apr1$").decode()
    if scheme == "sha":
        return "{SHA}" + base64.b64encode(hashlib.sha1(password).digest()).decode()
    return ""


# ------------------------------------------------------------------ files


def _lines(text: str) -> Iterable[list[str]]:
    # go-http-auth users.go reads both files with encoding/csv: Comma ':', Comment '#', TrimLeadingSpace.
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            yield [part.strip() for part in line.split(":")]


def parse_htpasswd(text: str) -> dict[str, str]:
    """Parse an htpasswd file (``user:hash`` lines) into ``{user: hash}``; hashes not accepted are dropped."""
    users: dict[str, str] = {}
    for parts in _lines(text):
        if len(parts) < 2 or not parts[0]:
            continue
        user, secret = parts[0], parts[1]
        if hash_scheme(secret) is None:
            log.warning("htpasswd: the password of user %r is not bcrypt, MD5-crypt or {SHA}; ignored", user)
            continue
        users[user] = secret
    return users


def load_htpasswd(path: str) -> dict[str, str]:
    """Read the htpasswd file at ``path``: ``{user: hash}`` (bcrypt, ``$apr1$``/``$1$``, ``{SHA}``)."""
    with open(path, encoding="utf-8") as f:
        return parse_htpasswd(f.read())


def parse_htdigest(text: str) -> dict[str, dict[str, str]]:
    """Parse an htdigest file (``user:realm:HA1`` lines) into ``{realm: {user: HA1}}``."""
    realms: dict[str, dict[str, str]] = {}
    for parts in _lines(text):
        if len(parts) < 3 or not parts[0]:
            continue
        user, realm, ha1 = parts[0], parts[1], parts[2].lower()
        if len(ha1) != 32 or any(c not in "0123456789abcdef" for c in ha1):
            log.warning("htdigest: entry of user %r in realm %r is not an MD5 hex digest; ignored", user, realm)
            continue
        realms.setdefault(realm, {})[user] = ha1
    return realms


def load_htdigest(path: str) -> dict[str, dict[str, str]]:
    """Read the htdigest file at ``path``: ``{realm: {user: HA1}}``."""
    with open(path, encoding="utf-8") as f:
        return parse_htdigest(f.read())


_BCRYPT = re.compile(r"\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}")


def check_credentials_file(path: str, *, digest_realm: str | None = None) -> None:
    """Raise ``ValueError`` if the htpasswd file (or, with ``digest_realm``, htdigest file) at ``path``
    cannot authenticate as configured: unreadable, no valid entry, or an entry that could never verify.

    go-http-auth reads the file at the first request and panics or refuses everyone; checking at start
    turns that into an error that names the file and the line (issue 14 #2).
    """
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except OSError as e:
        raise ValueError(e.strerror or str(e)) from None
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text: {e}") from None
    users = 0
    for n, raw in enumerate(text.splitlines(), 1):
        for parts in _lines(raw):
            if digest_realm is not None:
                if len(parts) < 3 or not parts[0]:
                    raise ValueError(f"line {n}: not user:realm:HA1")
                if len(parts[2]) != 32 or any(c not in "0123456789abcdefABCDEF" for c in parts[2]):
                    raise ValueError(f"line {n}: the HA1 of user {parts[0]!r} is not an MD5 hex digest")
                users += parts[1] == digest_realm
                continue
            if len(parts) < 2 or not parts[0]:
                raise ValueError(f"line {n}: not user:hash")
            user, secret = parts[0], parts[1]
            scheme = hash_scheme(secret)
            if scheme is None:
                raise ValueError(
                    f"line {n}: the password of user {user!r} is not a hash this server can verify "
                    "(bcrypt $2a$/$2b$/$2y$, MD5-crypt $apr1$/$1$ or {SHA}; plain text is never accepted)"
                )
            if scheme == "bcrypt":
                if not _BCRYPT.fullmatch(secret):
                    raise ValueError(f"line {n}: the bcrypt hash of user {user!r} is malformed")
                _bcrypt()  # an install without the library stops here, not at the first login
            users += 1
    if not users:
        where = f" in realm {digest_realm!r} (-http_digest_realm)" if digest_realm is not None else ""
        raise ValueError(f"no user{where}: nobody could log in")


class ReloadingFile:
    """A credentials file re-read when its mtime or size changes (go-http-auth ``File.ReloadIfNeeded``).

    A file that became unreadable or was replaced by garbage keeps the last good contents.
    """

    def __init__(self, path: str, loader: Callable[[str], Any]) -> None:
        self.path = path
        self._loader = loader
        self._stamp = self._stat()
        self.data: Any = loader(path)  # fails loudly at startup
        self.generation = 0

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def refresh(self) -> None:
        try:
            stamp = self._stat()
            if stamp == self._stamp:
                return
            data = self._loader(self.path)
        except (OSError, UnicodeDecodeError) as e:
            log.warning("cannot reload %s, keeping the previous credentials: %s", self.path, e)
            return
        self._stamp, self.data = stamp, data
        self.generation += 1
