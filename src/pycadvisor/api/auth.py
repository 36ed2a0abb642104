"""HTTP Basic (htpasswd) and Digest (htdigest) authentication for the UI, and optionally the API.

Behaviour follows cAdvisor's use of ``github.com/abbot/go-http-auth`` v0.4.0 (``cmd/cadvisor.go``,
``cmd/internal/http/handlers.go``): ``--http_auth_file`` gives Basic with realm ``--http_auth_realm``;
``--http_digest_file`` gives Digest (RFC 2617, MD5, ``qop="auth"``) and is used only when no Basic file
is given. Failures answer 401, ``Content-Type: text/plain``, body ``401 Unauthorized\\n`` and a
``WWW-Authenticate`` challenge, whatever went wrong (unknown user, wrong password, bad header, stale
or replayed nonce), so a refusal reveals nothing.

Differences from go-http-auth, all stricter or cheaper:

- cAdvisor wraps only the UI (``/containers``, ``/docker``, ``/podman``, ``/static``);
  ``protect_api=True`` also wraps ``/api``, the metrics endpoint, ``/validate`` and ``/debug``.
  ``/healthz`` is never wrapped.
- Digest nonces expire (the client is told ``stale=TRUE`` and retries without asking the user) and the
  nonce table is bounded; a nonce count already seen is refused (go-http-auth requires strictly
  increasing counts, which breaks browsers that send parallel requests out of order, so a 64-wide
  sliding window is kept instead, as in IPsec anti-replay).
- The digest ``uri`` must equal the request URI exactly (go-http-auth also accepts a path prefix).
- Passwords that verified once are remembered (keyed by an HMAC under a per-process key) until the
  file changes, so a UI polling every second costs one bcrypt run, not one per request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import math
import os
import posixpath
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# go-http-auth v0.4.0 auth.go: NormalHeaders.UnauthResponse = fmt.Sprintf("%d %s\n", 401, "Unauthorized").
UNAUTHORIZED_BODY = b"401 Unauthorized\n"

# Paths cAdvisor puts behind auth (cmd/internal/http/handlers.go) and the ones protect_api adds.
UI_PATHS = ("/containers", "/docker", "/podman", "/static")
API_PATHS = ("/api", "/validate", "/debug")

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
        import bcrypt  # a dependency; imported here so files without bcrypt hashes never load it

        hashed = secret.encode()
        if hashed.startswith(b"$2x$"):
            # Go's x/crypto/bcrypt treats every minor version alike; so does checking it as $2a$.
            hashed = b"$2a$" + hashed[4:]
        try:
            return bool(bcrypt.checkpw(password, hashed))
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
        import bcrypt

        return str(bcrypt.hashpw(password, bcrypt.gensalt(rounds=hash_weight(secret)[1] or 10)).decode())
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
                try:
                    import bcrypt  # noqa: F401
                except ImportError:
                    raise ValueError(
                        f"line {n}: user {user!r} has a bcrypt hash and the bcrypt package is not installed"
                    ) from None
            users += 1
    if not users:
        where = f" in realm {digest_realm!r} (-http_digest_realm)" if digest_realm is not None else ""
        raise ValueError(f"no user{where}: nobody could log in")


class _Reloading:
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


# ------------------------------------------------------------------ challenges and responses


def _unauthorized(challenge: str) -> web.Response:
    # go-http-auth: Content-Type "text/plain" (no charset), WWW-Authenticate, body "401 Unauthorized\n".
    return web.Response(
        status=401,
        body=UNAUTHORIZED_BODY,
        headers={"Content-Type": "text/plain", "WWW-Authenticate": challenge},
    )


def parse_auth_params(value: str) -> dict[str, str]:
    """Parse ``k=v, k="quoted, \\"v\\""`` auth-params (RFC 7235 §2.1) into a dict; first key wins."""
    out: dict[str, str] = {}
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        eq = value.find("=", i)
        if eq < 0:
            break
        key = value[i:eq].strip().lower()
        i = eq + 1
        while i < n and value[i] in " \t":
            i += 1
        if i < n and value[i] == '"':
            i += 1
            buf = []
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(value[i])
                i += 1
            i += 1  # closing quote
            val = "".join(buf)
        else:
            end = value.find(",", i)
            end = n if end < 0 else end
            val = value[i:end].strip()
            i = end
        out.setdefault(key, val)
    return out


def _md5_hex(s: str) -> str:
    return hashlib.md5(s.encode("utf-8")).hexdigest()


class BasicAuthenticator:
    """Checks ``Authorization: Basic`` against an htpasswd file (go-http-auth ``BasicAuth``)."""

    def __init__(self, path: str, realm: str) -> None:
        self.realm = realm
        self.challenge = f'Basic realm="{realm}"'
        self._file = _Reloading(path, load_htpasswd)
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, str] = {}  # HMAC(user, password) -> hash it matched
        self._generation = 0
        self._dummy_hash = ""
        self._dummy_for = -1  # the file generation _dummy_hash was made for
        self._hashing = asyncio.Semaphore(1)

    async def check(self, request: web.Request) -> tuple[str | None, dict[str, str]]:
        """Return (user or None, extra response headers)."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return None, {}
        try:
            raw = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None, {}
        user_b, sep, password = raw.partition(b":")
        if not sep:
            return None, {}
        try:
            user = user_b.decode("utf-8")
        except UnicodeDecodeError:
            return None, {}
        self._file.refresh()
        if self._file.generation != self._generation:
            self._verified.clear()
            self._generation = self._file.generation
        users: dict[str, str] = self._file.data
        secret = users.get(user)
        key = hmac.new(self._key, user_b + b"\x00" + password, hashlib.sha256).digest()
        if secret is not None and self._verified.get(key) == secret:
            return user, {}
        # Every check costs what the costliest hash of the file costs, whoever the user: an unknown user
        # is checked against a dummy hash of that kind, and a user whose own hash is cheaper pays for the
        # dummy too. Checking an unknown user against the first entry (bcrypt or {SHA}, whatever it was)
        # made 1.3 ms against 150 ms tell users apart (issue 14, item 5).
        dummy = await self._dummy(users)
        target = secret if secret is not None else dummy
        ok = await self._verify(password, target) and secret is not None
        if secret is not None and dummy and hash_weight(secret) < hash_weight(dummy):
            await self._verify(password, dummy)
        if ok:
            if len(self._verified) >= 1024:
                self._verified.pop(next(iter(self._verified)))
            self._verified[key] = target
            return user, {}
        return None, {}

    async def _dummy(self, users: dict[str, str]) -> str:
        """A hash of a random password, of the costliest kind in ``users``; made once per file version."""
        if self._dummy_for != self._generation:
            costliest = max(users.values(), key=hash_weight, default="")
            self._dummy_hash = await asyncio.get_running_loop().run_in_executor(None, dummy_like, costliest)
            self._dummy_for = self._generation
        return self._dummy_hash

    async def _verify(self, password: bytes, secret: str) -> bool:
        if hash_scheme(secret) == "bcrypt":
            # bcrypt takes tens to hundreds of ms and releases the GIL: keep it off the event loop, one
            # at a time, so that failed logins can never take more than one core (issue 14, item 6).
            async with self._hashing:
                return await asyncio.get_running_loop().run_in_executor(None, check_password, password, secret)
        return check_password(password, secret)


@dataclass(slots=True)
class _Nonce:
    issued: float
    max_nc: int = 0
    seen: int = 0  # bit k set: nonce count max_nc - k was used


_DIGEST_TAIL = 'algorithm="MD5", qop="auth"'


class DigestAuthenticator:
    """RFC 2617 Digest (MD5, qop=auth) against an htdigest file (go-http-auth ``DigestAuth``)."""

    WINDOW = 64  # nonce counts accepted out of order, each once
    MAX_NONCES = 4096

    def __init__(
        self,
        path: str,
        realm: str,
        *,
        nonce_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.realm = realm
        self.opaque = secrets.token_hex(16)
        self._file = _Reloading(path, load_htdigest)
        self._ttl = nonce_ttl
        self._clock = clock
        self._nonces: dict[str, _Nonce] = {}

    def challenge(self, *, stale: bool = False) -> str:
        """Issue a fresh nonce and return the ``WWW-Authenticate`` value for it."""
        now = self._clock()
        while len(self._nonces) >= self.MAX_NONCES:
            self._nonces.pop(next(iter(self._nonces)))
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = _Nonce(issued=now)
        value = f'Digest realm="{self.realm}", nonce="{nonce}", opaque="{self.opaque}", ' + _DIGEST_TAIL
        return value + ", stale=TRUE" if stale else value

    def _expire(self, now: float) -> None:
        # dict order is issue order, so expired nonces are at the front.
        while self._nonces:
            first = next(iter(self._nonces))
            if now - self._nonces[first].issued < self._ttl:
                break
            del self._nonces[first]

    def check(self, request: web.Request) -> tuple[str | None, dict[str, str], bool]:
        """Return (user or None, extra response headers, stale)."""
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "digest":
            return None, {}, False
        p = parse_auth_params(rest)
        p.setdefault("algorithm", "MD5")  # RFC 2617 §3.2.1: absent means MD5 (go-http-auth does the same)
        need = ("username", "nonce", "uri", "response", "nc", "cnonce")
        if (
            any(k not in p for k in need)
            or p.get("opaque") != self.opaque
            or p["algorithm"].upper() != "MD5"
            or p.get("qop") != "auth"
            or p["uri"] != request.raw_path
        ):
            return None, {}, False
        try:
            nc = int(p["nc"], 16)
        except ValueError:
            return None, {}, False
        self._file.refresh()
        realms: dict[str, dict[str, str]] = self._file.data
        ha1 = realms.get(self.realm, {}).get(p["username"])
        known = ha1 is not None
        if ha1 is None:
            ha1 = "0" * 32  # same work for unknown users
        ha2 = _md5_hex(f"{request.method}:{p['uri']}")
        expected = _md5_hex(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        if not (hmac.compare_digest(expected, p["response"].lower()) and known):
            return None, {}, False
        # The password is right; now the nonce must be ours, fresh, and this count never seen.
        now = self._clock()
        self._expire(now)
        state = self._nonces.get(p["nonce"])
        if state is None:
            return None, {}, True  # unknown or expired: stale, the client retries with a new nonce
        if not self._use_count(state, nc):
            return None, {}, False  # replay
        rspauth = _md5_hex(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{_md5_hex(':' + p['uri'])}")
        info = f'qop="auth", rspauth="{rspauth}", cnonce="{p["cnonce"]}", nc="{p["nc"]}"'
        return p["username"], {"Authentication-Info": info}, False

    def _use_count(self, state: _Nonce, nc: int) -> bool:
        if nc <= 0:
            return False
        if nc > state.max_nc:
            shift = nc - state.max_nc
            state.seen = ((state.seen << shift) | 1) & ((1 << self.WINDOW) - 1) if shift < self.WINDOW else 1
            state.max_nc = nc
            return True
        off = state.max_nc - nc
        if off >= self.WINDOW or (state.seen >> off) & 1:
            return False
        state.seen |= 1 << off
        return True


# ------------------------------------------------------------------ failed attempts


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # when ``tokens`` was last brought up to date


class FailureLimiter:
    """Failed login attempts per client address: a token bucket each, in a bounded table.

    Each failure takes a token; a bucket refills one token every ``refill_s`` up to ``burst``. An
    address without a token is refused before any password is checked (429 with ``Retry-After``),
    so wrong passwords cannot keep the cores busy with bcrypt (issue 14, item 6); successful logins
    take nothing. The table holds at most ``max_clients`` addresses, least recently failed dropped
    first (a full bucket is the same as none).
    """

    def __init__(
        self,
        *,
        burst: int = 20,
        refill_s: float = 2.0,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, addr: str, now: float) -> _Bucket | None:
        b = self._buckets.get(addr)
        if b is not None:
            b.tokens = min(float(self.burst), b.tokens + (now - b.at) / self.refill_s)
            b.at = now
        return b

    def retry_after(self, addr: str) -> int:
        """Seconds until ``addr`` may try again; 0 if it may now."""
        now = self._clock()
        b = self._bucket(addr, now)
        if b is None or b.tokens >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - b.tokens) * self.refill_s))

    def take(self, addr: str) -> int:
        """Take a token for an attempt of ``addr`` before checking it: 0 if taken, else seconds to wait.

        The token is taken before the password is checked, so that concurrent attempts cannot all pass
        while the first ones are still being hashed; :meth:`refund` gives it back when the attempt succeeds.
        """
        wait = self.retry_after(addr)
        if wait:
            return wait
        b = self._buckets.pop(addr, None)  # re-inserted last: the order is least recently failed first
        if b is None:
            while len(self._buckets) >= self.max_clients:
                self._buckets.pop(next(iter(self._buckets)))
            b = _Bucket(tokens=float(self.burst), at=self._clock())
        b.tokens -= 1.0
        self._buckets[addr] = b
        return 0

    def refund(self, addr: str) -> None:
        """Give back the token of an attempt that succeeded (a success is not limited)."""
        b = self._buckets.get(addr)
        if b is not None:
            b.tokens = min(float(self.burst), b.tokens + 1.0)


def _too_many(retry_after: int) -> web.Response:
    return web.Response(
        status=429,
        body=b"429 Too Many Requests\n",
        headers={"Content-Type": "text/plain", "Retry-After": str(retry_after)},
    )


# ------------------------------------------------------------------ middleware


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def protected_prefixes(
    *, prefix: str, protect_api: bool, metrics_path: str = "/metrics", more_paths: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The path prefixes that the middleware puts behind auth: with ``prefix`` and, as the server answers
    at the root as well (api/server.py), without it. ``more_paths``: further metrics endpoints."""
    paths = UI_PATHS + ((*API_PATHS, metrics_path, *more_paths) if protect_api else ())
    mounts = {prefix.rstrip("/"), ""}
    return tuple(m + p for m in sorted(mounts) for p in paths if p and p != "/healthz")


def _is_protected(request: web.Request, prefixes: tuple[str, ...], healthz: str) -> bool:
    # A request is guarded if its path as sent, its path with "//", "." and ".." collapsed, or the route
    # the router matched lies under a protected prefix: no spelling of a path slips past the check.
    path = request.path
    norm = posixpath.normpath("/" + path.lstrip("/"))
    if norm == healthz and path == healthz:
        return False
    if _under(path, prefixes) or _under(norm, prefixes):
        return True
    route = request.match_info.route
    canonical = route.resource.canonical if route.resource is not None else ""
    return _under(canonical, prefixes)


def make_auth_middleware(
    *,
    basic_file: str | None,
    basic_realm: str,
    digest_file: str | None,
    digest_realm: str,
    protect_api: bool,
    prefix: str,
    metrics_path: str = "/metrics",
    more_paths: tuple[str, ...] = (),
    nonce_ttl: float = 300.0,
    clock: Callable[[], float] = time.monotonic,
    limiter: FailureLimiter | None = None,
) -> Middleware:
    """Build the aiohttp middleware guarding the UI (and, with ``protect_api``, the API and metrics).

    ``basic_file`` wins over ``digest_file`` (as in cAdvisor); with neither, requests pass through.
    The files are read now, so a missing or unreadable file fails at startup (``OSError``).
    Failed attempts are limited per client address by ``limiter`` (by default a :class:`FailureLimiter`).
    """
    prefixes = protected_prefixes(
        prefix=prefix, protect_api=protect_api, metrics_path=metrics_path, more_paths=more_paths
    )
    healthz = prefix.rstrip("/") + "/healthz"
    basic = BasicAuthenticator(basic_file, basic_realm) if basic_file else None
    digest = (
        DigestAuthenticator(digest_file, digest_realm, nonce_ttl=nonce_ttl, clock=clock)
        if digest_file and not basic_file
        else None
    )
    failures = limiter if limiter is not None else FailureLimiter(clock=clock)

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (basic is None and digest is None) or not _is_protected(request, prefixes, healthz):
            return await handler(request)
        extra: dict[str, str]
        # The peer's address, never a forwarded-for header a client could vary at will.
        addr = request.remote or ""
        tried = "Authorization" in request.headers  # a request without credentials costs nothing
        if tried and (wait := failures.take(addr)):
            return _too_many(wait)
        if basic is not None:
            user, extra = await basic.check(request)
            if user is not None and tried:
                failures.refund(addr)
            if user is None:
                return _unauthorized(basic.challenge)
        else:
            assert digest is not None
            user, extra, stale = digest.check(request)
            if tried and (user is not None or stale):  # a stale nonce is the protocol's retry, not a failure
                failures.refund(addr)
            if user is None:
                return _unauthorized(digest.challenge(stale=stale))
        response = await handler(request)
        if extra and not response.prepared:
            response.headers.update(extra)
        return response

    return auth_middleware
