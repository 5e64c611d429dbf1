"""The page's login: one password (the dashboard's), a session cookie, slowed wrong guesses.

The password is read from `[web] password_file` at every login, so a new one takes effect
without a restart; a file that every user of the box can read is refused, as the rclone
password files are. A login is a random token held in this process's memory only: a restart
of the web server logs every phone out, and a logout ends the token for good.

Wrong passwords are counted per client address: the first few are free (typos), then each
further attempt must wait 1 s, 2 s, 4 s … (at most five minutes) and is answered 429 with
`Retry-After` until then, without the password even being compared. Nothing sleeps: the event
loop keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import secrets
import stat
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

COOKIE = "sr_login"
LOGIN_PATH = "/api/login"
LOGOUT_PATH = "/api/logout"
MAX_LOGIN_BODY = 4096  # {"password": …} and nothing more


class PasswordError(Exception):
    """The page password cannot be used (missing, empty, unreadable, or readable by all)."""


def read_password(path: Path) -> str:
    """The first line of `path`; refuses a file every user of the box can read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PasswordError(f"[web] password_file {path} does not exist") from None
    except OSError as exc:
        raise PasswordError(f"[web] password_file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise PasswordError(f"[web] password_file {path} is not a file")
    if st.st_mode & 0o004:
        raise PasswordError(
            f"[web] password_file {path} is readable by every user: chmod 640 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswordError(f"[web] password_file {path} cannot be read: {exc}") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise PasswordError(f"[web] password_file {path} is empty")
    return password


@dataclass
class _Failures:
    count: int
    last: float
    locked_until: float


class LoginThrottle:
    """Wrong passwords per client address, and how long each must wait before the next try.

    Times are whatever clock the caller passes in (monotonic seconds). At most `max_entries`
    addresses are remembered (the oldest forgotten first), and an address forgets its failures
    after `forget_s` without one.
    """

    def __init__(
        self,
        free: int = 3,
        first_s: float = 1.0,
        max_s: float = 300.0,
        forget_s: float = 3600.0,
        max_entries: int = 4096,
    ) -> None:
        self.free, self.first_s, self.max_s = free, first_s, max_s
        self.forget_s, self.max_entries = forget_s, max_entries
        self._seen: OrderedDict[str, _Failures] = OrderedDict()  # the event loop's only

    def wait_s(self, address: str, now: float) -> float:
        """Seconds `address` must still wait before its next attempt (0: it may try now)."""
        entry = self._seen.get(address)
        return max(0.0, entry.locked_until - now) if entry else 0.0

    def failed(self, address: str, now: float) -> int:
        """Count a wrong password; returns how many in a row `address` has had."""
        entry = self._seen.pop(address, None)
        if entry is None or now - entry.last > self.forget_s:
            entry = _Failures(0, now, now)
        entry.count += 1
        entry.last = now
        beyond = entry.count - self.free - 1  # the first beyond the free ones waits first_s
        if beyond >= 0:
            entry.locked_until = now + min(self.max_s, self.first_s * 2.0**beyond)
        self._seen[address] = entry
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return entry.count

    def succeeded(self, address: str) -> None:
        self._seen.pop(address, None)


class Logins:
    """The open logins: random tokens and when each ends (this process's memory only)."""

    def __init__(self, lifetime_s: float, max_logins: int = 256) -> None:
        self.lifetime_s = lifetime_s
        self.max_logins = max_logins
        self._ends: OrderedDict[str, float] = OrderedDict()  # the event loop's only

    def open(self, now: float) -> str:
        token = secrets.token_urlsafe(32)
        self._ends[token] = now + self.lifetime_s
        while len(self._ends) > self.max_logins:  # the oldest login goes first
            self._ends.popitem(last=False)
        return token

    def valid(self, token: str | None, now: float) -> bool:
        if not token:
            return False
        end = self._ends.get(token)
        if end is None:
            return False
        if end <= now:
            del self._ends[token]
            return False
        return True

    def close(self, token: str | None) -> None:
        if token:
            self._ends.pop(token, None)


@dataclass(frozen=True)
class LoginDesk:
    """What the login handlers need: the password file, the logins, the throttle, the clock."""

    password_file: Path
    logins: Logins
    throttle: LoginThrottle
    clock: Callable[[], float]
    secure_cookie: bool

    def logged_in(self, request: web.Request) -> bool:
        return self.logins.valid(request.cookies.get(COOKIE), self.clock())

    async def login(self, request: web.Request) -> web.Response:
        address = request.remote or "?"
        wait = self.throttle.wait_s(address, self.clock())
        if wait > 0:
            return _too_soon(wait)
        given = await _password_in(request)
        if given is None:
            return _error(400, 'send JSON {"password": "…"}')
        try:
            password = await asyncio.to_thread(read_password, self.password_file)
        except PasswordError as exc:
            log.error("login refused: %s", exc)
            return _error(503, "the box has no usable page password: see its log")
        if not hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8")):
            count = self.throttle.failed(address, self.clock())
            log.warning("wrong page password from %s (%d in a row)", address, count)
            answer = _error(401, "wrong password")
            wait = self.throttle.wait_s(address, self.clock())
            if wait > 0:
                answer.headers["Retry-After"] = str(math.ceil(wait))
            return answer
        self.throttle.succeeded(address)
        token = self.logins.open(self.clock())
        answer = web.json_response({"ok": True, "expires_s": int(self.logins.lifetime_s)})
        answer.set_cookie(
            COOKIE,
            token,
            max_age=int(self.logins.lifetime_s),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookie,
        )
        log.info("page login from %s", address)
        return answer

    async def logout(self, request: web.Request) -> web.Response:
        self.logins.close(request.cookies.get(COOKIE))
        answer = web.json_response({"ok": True})
        answer.del_cookie(COOKIE, path="/", samesite="Strict")
        return answer

    async def me(self, request: web.Request) -> web.Response:
        """Whether this phone is logged in (the guard answers 401 before this when not)."""
        return web.json_response({"ok": True})


async def _password_in(request: web.Request) -> str | None:
    if request.content_length is not None and request.content_length > MAX_LOGIN_BODY:
        return None
    body = await request.read()  # a chunked body is bounded by the app's client_max_size
    if len(body) > MAX_LOGIN_BODY:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    password = data.get("password") if isinstance(data, dict) else None
    if not isinstance(password, str):
        return None
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no password is that
        return None
    return password


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


def _too_soon(wait: float) -> web.Response:
    seconds = math.ceil(wait)
    answer = _error(429, f"too many wrong passwords: try again in {seconds} s")
    answer.headers["Retry-After"] = str(seconds)
    return answer
