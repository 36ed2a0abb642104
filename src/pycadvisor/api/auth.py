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

Here: the Basic and Digest authenticators and the middleware; the credentials files and password hashes
are :mod:`pycadvisor.api.authfiles`, the limit on failed logins :mod:`pycadvisor.api.authlimit`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import posixpath
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from pycadvisor.api.authfiles import (
    ReloadingFile,
    check_password,
    dummy_like,
    hash_scheme,
    hash_weight,
    load_htdigest,
    load_htpasswd,
)
from pycadvisor.api.authlimit import FailureLimiter, too_many_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# go-http-auth v0.4.0 auth.go: NormalHeaders.UnauthResponse = fmt.Sprintf("%d %s\n", 401, "Unauthorized").
UNAUTHORIZED_BODY = b"401 Unauthorized\n"

# Paths cAdvisor puts behind auth (cmd/internal/http/handlers.go) and the ones protect_api adds.
UI_PATHS = ("/containers", "/docker", "/podman", "/static")
API_PATHS = ("/api", "/validate", "/debug")

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
        self._file = ReloadingFile(path, load_htpasswd)
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
        self._file = ReloadingFile(path, load_htdigest)
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
            return too_many_response(wait)
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
