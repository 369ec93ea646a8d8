"""Logins of the web application: passwords (Argon2id), lock-out, server-side sessions, optional TOTP.

* A password is stored as an Argon2id hash (RFC 9106; ``argon2-cffi``'s default parameters) in
  ``web_credentials``; the clear text is never stored or logged.
* After :data:`MAX_FAILURES` consecutive failed logins an account is locked for :data:`LOCK_SECONDS`,
  doubled with every further failure (capped at one day); while locked even the right password fails.
  Every failure -- unknown name, wrong password, wrong or missing code, locked account -- gives the same
  answer (``None``), and an unknown name costs the same Argon2 verification as a known one, so that the
  answer reveals nothing about which names exist.
* Sessions live in the database (``web_sessions``; both tables are defined in
  :mod:`blincompass.registry.schema`): the browser holds a random 256-bit token, the table
  only its SHA-256. A session ends after :data:`IDLE_SECONDS` without a request or :data:`ABSOLUTE_SECONDS`
  after it began; logging out deletes it. Every session carries its own CSRF token. Logging in always
  creates a new session (the pre-login one is deleted): a session id planted before login is useless.
* TOTP (RFC 6238, 30-second steps, 6 digits; ``pyotp``) is optional per user; once enabled the code is
  required at every login, and each code is accepted once (the last accepted time step is stored).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from blincompass.registry.access import Registry, User

__all__ = [
    "ABSOLUTE_SECONDS",
    "IDLE_SECONDS",
    "LOCK_SECONDS",
    "MAX_FAILURES",
    "MIN_PASSWORD_LENGTH",
    "AuthError",
    "Session",
    "authenticate",
    "change_password",
    "create_session",
    "disable_totp",
    "enable_totp",
    "end_session",
    "end_user_sessions",
    "has_password",
    "hash_password",
    "load_session",
    "load_session_user",
    "new_totp_secret",
    "password_problem",
    "purge_sessions",
    "rotate_session",
    "set_password",
    "totp_enabled",
    "totp_uri",
    "verify_password",
]

#: Consecutive failures before an account is locked.
MAX_FAILURES = 5
#: First lock-out, in seconds (doubled with each further failure, at most one day).
LOCK_SECONDS = 300
MAX_LOCK_SECONDS = 86_400
#: A session ends after this many seconds without a request ...
IDLE_SECONDS = 30 * 60
#: ... and at the latest this many seconds after it began.
ABSOLUTE_SECONDS = 12 * 3600
#: Shortest password accepted (NIST SP 800-63B asks for at least 8; the registry holds health data).
MIN_PASSWORD_LENGTH = 12
_TOUCH_SECONDS = 60  # last_seen is written at most once a minute per session


class AuthError(ValueError):
    """A credential change that cannot be made (weak password, wrong current password, bad code)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _hasher() -> Any:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(type=Type.ID)


_DUMMY_HASH: str | None = None
#: Argon2 computations running at once in this process (each takes 64 MiB): a burst of login attempts
#: queues here instead of exhausting the memory.
_ARGON2_SLOTS = threading.BoundedSemaphore(4)


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (PHC string format, salt included)."""
    with _ARGON2_SLOTS:
        return str(_hasher().hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (constant time in the password)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        with _ARGON2_SLOTS:
            return bool(_hasher().verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether ``password_hash`` was made with other Argon2 parameters than :func:`hash_password` uses now."""
    return bool(_hasher().check_needs_rehash(password_hash))


def password_problem(password: str, user_name: str = "") -> str | None:
    """Why ``password`` is not acceptable, or ``None``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "a password has at most 1024 characters"
    if user_name and user_name.casefold() in password.casefold():
        return "a password must not contain the user name"
    if len(set(password)) < 5:
        return "a password needs at least 5 different characters"
    return None


def _t(reg: Registry, name: str) -> sa.Table:
    return reg.tables[name]


def set_password(reg: Registry, user_name: str, password: str, *, now: dt.datetime | None = None,
                 password_hash: str | None = None) -> None:
    """Give registered user ``user_name`` a (new) password: resets the failure counter and the lock, and
    ends every session of the user. Raises :class:`AuthError` for a weak password, ``LookupError`` for an
    unknown user. ``password_hash``: :func:`hash_password` of ``password`` computed once already (the demo
    registry gives its users one published password; each Argon2 hash costs about 0.3 s)."""
    problem = password_problem(password, user_name)
    if problem:
        raise AuthError(problem)
    now = now or _now()
    cred, users, sessions = _t(reg, "web_credentials"), _t(reg, "users"), _t(reg, "web_sessions")
    reg.release_connection()  # no pooled connection waits for the password hashing
    digest = password_hash or hash_password(password)
    with reg.writing() as conn:
        if conn.execute(sa.select(users.c.name).where(users.c.name == user_name)).first() is None:
            raise LookupError(f"user '{user_name}' is not registered")
        values = dict(password_hash=digest, failed_count=0, locked_until=None, changed_at=now)
        done = conn.execute(cred.update().where(cred.c.user_name == user_name).values(**values)).rowcount
        if not done:
            conn.execute(cred.insert().values(user_name=user_name, **values))
        conn.execute(sessions.delete().where(sessions.c.user_name == user_name))


def has_password(reg: Registry, user_name: str) -> bool:
    """Whether the user can log in to the web application."""
    cred = _t(reg, "web_credentials")
    with reg.reading() as conn:
        return conn.execute(sa.select(cred.c.user_name).where(cred.c.user_name == user_name)).first() is not None


#: TOTP time step in seconds (RFC 6238's default, what authenticator apps use).
TOTP_STEP_SECONDS = 30


def _totp_step(secret: str, code: str | None, now: dt.datetime) -> int | None:
    """The time step (``floor(unix time / 30)``) whose code ``code`` is, within one step of clock drift
    either way (RFC 6238, section 5.2); ``None`` when it is none of them."""
    import hmac

    import pyotp

    if not code:
        return None
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS)
    step = int(now.timestamp()) // TOTP_STEP_SECONDS
    found = None
    for s in (step - 1, step, step + 1):  # every step is compared, so the time taken does not say which
        if hmac.compare_digest(totp.generate_otp(s), code):
            found = s
    return found


def _accept_totp_step(conn: sa.Connection, cred: sa.Table, user_name: str, step: int) -> bool:
    """Record ``step`` as the user's last accepted TOTP step unless that step or a later one was already
    accepted: a code is good for one login (RFC 6238, section 5.2: the verifier must not accept the
    second attempt of the same OTP). One conditional UPDATE, so two logins racing with the same code
    cannot both succeed."""
    res = conn.execute(
        cred.update()
        .where(cred.c.user_name == user_name)
        .where(sa.or_(cred.c.totp_last_step.is_(None), cred.c.totp_last_step < step))
        .values(totp_last_step=step)
    )
    return res.rowcount == 1


def authenticate(
    reg: Registry, user_name: str, password: str, totp_code: str | None = None, *,
    now: dt.datetime | None = None,
) -> User | None:
    """The registered user when ``user_name`` / ``password`` (and the TOTP code, where enabled) are right and
    the account is not locked; else ``None`` -- the same answer for every reason. A failure counts towards
    the lock-out; a success resets the counter."""
    from blincompass.registry.access import User

    global _DUMMY_HASH
    now = now or _now()
    cred, users = _t(reg, "web_credentials"), _t(reg, "users")
    user_name = user_name[:80]
    with reg.reading() as conn:
        row = conn.execute(
            sa.select(cred, users.c.role, users.c.centre).join(users, users.c.name == cred.c.user_name)
            .where(cred.c.user_name == user_name)
        ).first()
    reg.release_connection()  # no pooled connection waits for the password hashing
    if row is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
        verify_password(_DUMMY_HASH, password)  # the same work as for a registered name
        return None
    locked_until = _utc(row.locked_until)
    ok = verify_password(row.password_hash, password)
    step = None
    if ok and row.totp_secret:
        step = _totp_step(row.totp_secret, totp_code, now)
        ok = step is not None
    if locked_until is not None and locked_until > now:
        ok = False
    with reg.writing() as conn:
        if ok and step is not None and not _accept_totp_step(conn, cred, user_name, step):
            ok = False  # a code already used (replayed, or a second login with it): a failure like any other
        if ok:
            conn.execute(cred.update().where(cred.c.user_name == user_name).values(failed_count=0, locked_until=None))
            return User(user_name, row.role, row.centre)
        # counted in the database (not from the value read above), so that parallel attempts all count
        conn.execute(cred.update().where(cred.c.user_name == user_name)
                     .values(failed_count=cred.c.failed_count + 1))
        failures = conn.execute(sa.select(cred.c.failed_count).where(cred.c.user_name == user_name)).scalar_one()
        if failures >= MAX_FAILURES:
            seconds = min(MAX_LOCK_SECONDS, LOCK_SECONDS * 2 ** min(failures - MAX_FAILURES, 20))
            conn.execute(cred.update().where(cred.c.user_name == user_name)
                         .values(locked_until=now + dt.timedelta(seconds=seconds)))
    return None


def new_totp_secret() -> str:
    """A new random TOTP secret (base32, 160 bits)."""
    import pyotp

    return str(pyotp.random_base32(32))


def totp_uri(user_name: str, secret: str, issuer: str = "blincompass") -> str:
    """The ``otpauth://`` URI an authenticator app reads (type it in, or paste it)."""
    import pyotp

    return str(pyotp.TOTP(secret).provisioning_uri(name=user_name, issuer_name=issuer))


def enable_totp(reg: Registry, user_name: str, secret: str, code: str, *, now: dt.datetime | None = None) -> None:
    """Require TOTP codes of ``secret`` at every login of the user, once ``code`` proves the app has it."""
    step = _totp_step(secret, code, now or _now())
    if step is None:
        raise AuthError("the code does not match; check the time of the device and type the current code")
    cred = _t(reg, "web_credentials")
    with reg.writing() as conn:
        # the code that proved the app is used up: it cannot then log in as well
        conn.execute(cred.update().where(cred.c.user_name == user_name)
                     .values(totp_secret=secret, totp_last_step=step))


def disable_totp(reg: Registry, user_name: str) -> None:
    """Stop asking the user for TOTP codes."""
    cred = _t(reg, "web_credentials")
    with reg.writing() as conn:
        conn.execute(cred.update().where(cred.c.user_name == user_name).values(totp_secret=None, totp_last_step=None))


def totp_enabled(reg: Registry, user_name: str) -> bool:
    cred = _t(reg, "web_credentials")
    with reg.reading() as conn:
        return bool(conn.execute(sa.select(cred.c.totp_secret).where(cred.c.user_name == user_name)).scalar())


def change_password(reg: Registry, user_name: str, current: str, new: str) -> None:
    """Change a user's own password (the current one is checked; every session of the user ends)."""
    cred = _t(reg, "web_credentials")
    with reg.reading() as conn:
        digest = conn.execute(sa.select(cred.c.password_hash).where(cred.c.user_name == user_name)).scalar()
    reg.release_connection()
    if digest is None or not verify_password(digest, current):
        raise AuthError("the current password is not right")
    set_password(reg, user_name, new)


# -- sessions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """A server-side session: ``user_name`` is ``None`` before login."""

    id_hash: str
    user_name: str | None
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime

    def csrf_ok(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (constant-time comparison)."""
        return bool(token) and hmac.compare_digest(self.csrf_token.encode(), str(token).encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_session(
    reg: Registry, user_name: str | None = None, *, now: dt.datetime | None = None,
) -> tuple[str, Session]:
    """A new session; returns the token for the cookie (only its hash is stored) and the session."""
    now = now or _now()
    token = secrets.token_urlsafe(32)
    s = Session(_digest(token), user_name, secrets.token_urlsafe(32), now, now)
    with reg.writing() as conn:
        conn.execute(_t(reg, "web_sessions").insert().values(
            id_hash=s.id_hash, user_name=user_name, csrf_token=s.csrf_token, created_at=now, last_seen_at=now))
    return token, s


def load_session(reg: Registry, token: str | None, *, now: dt.datetime | None = None) -> Session | None:
    """The live session of ``token``, or ``None`` (unknown, ended, idle too long or too old; an expired one
    is deleted)."""
    return load_session_user(reg, token, now=now)[0]


def load_session_user(
    reg: Registry, token: str | None, *, now: dt.datetime | None = None,
) -> tuple[Session | None, User | None]:
    """:func:`load_session` and the session's registered user, read in one statement: ``(session, user)``;
    ``user`` is ``None`` before login and when the session's user is no longer registered."""
    from blincompass.registry.access import User

    if not token or len(token) > 128:
        return None, None
    now = now or _now()
    t, users = _t(reg, "web_sessions"), _t(reg, "users")
    h = _digest(token)
    q = (sa.select(t, users.c.name.label("u_name"), users.c.role.label("u_role"), users.c.centre.label("u_centre"))
         .select_from(t.outerjoin(users, users.c.name == t.c.user_name)).where(t.c.id_hash == h))
    with reg.reading() as conn:
        r = conn.execute(q).first()
    session = _live(reg, r, h, now)
    if session is None or r is None or r.u_name is None:
        return session, None
    return session, User(r.u_name, r.u_role, r.u_centre)


def _live(reg: Registry, r: Any, h: str, now: dt.datetime) -> Session | None:
    """The session of the row ``r`` (of ``web_sessions``), or ``None`` for no row or an expired session
    (deleted here); ``last_seen_at`` is written at most once a minute."""
    t = _t(reg, "web_sessions")
    if r is None:
        return None
    created, seen = _utc(r.created_at), _utc(r.last_seen_at)
    assert created is not None and seen is not None
    if now - seen > dt.timedelta(seconds=IDLE_SECONDS) or now - created > dt.timedelta(seconds=ABSOLUTE_SECONDS):
        with reg.writing() as conn:
            conn.execute(t.delete().where(t.c.id_hash == h))
        return None
    if now - seen > dt.timedelta(seconds=_TOUCH_SECONDS):
        with reg.writing() as conn:
            conn.execute(t.update().where(t.c.id_hash == h).values(last_seen_at=now))
        seen = now
    return Session(h, r.user_name, r.csrf_token, created, seen)


def rotate_session(reg: Registry, old: Session | None, user_name: str, *,
                   now: dt.datetime | None = None) -> tuple[str, Session]:
    """End ``old`` (the pre-login session) and create a fresh session for ``user_name``: the session id and
    the CSRF token change at login, so an id planted before login is worthless."""
    t = _t(reg, "web_sessions")
    if old is not None:
        with reg.writing() as conn:
            conn.execute(t.delete().where(t.c.id_hash == old.id_hash))
    return create_session(reg, user_name, now=now)


def end_session(reg: Registry, session: Session) -> None:
    """Log out: the session is deleted, its token can never be used again."""
    t = _t(reg, "web_sessions")
    with reg.writing() as conn:
        conn.execute(t.delete().where(t.c.id_hash == session.id_hash))


def end_user_sessions(reg: Registry, user_name: str) -> int:
    """End every session of a user (after a password change); returns how many."""
    t = _t(reg, "web_sessions")
    with reg.writing() as conn:
        return int(conn.execute(t.delete().where(t.c.user_name == user_name)).rowcount or 0)


def purge_sessions(reg: Registry, *, now: dt.datetime | None = None) -> int:
    """Delete the sessions that have expired (idle or absolute); returns how many."""
    now = now or _now()
    t = _t(reg, "web_sessions")
    with reg.writing() as conn:
        return int(conn.execute(t.delete().where(sa.or_(
            t.c.last_seen_at < now - dt.timedelta(seconds=IDLE_SECONDS),
            t.c.created_at < now - dt.timedelta(seconds=ABSOLUTE_SECONDS)))).rowcount or 0)
