"""Personal API tokens, and who the command line acts as.

A registry user name given on the command line (``--user NAME``, ``$BLINCOMPASS_USER``) is a claim, not a
login. On a registry that holds credentials -- an API token (table ``api_tokens``) or a password (the web
registry's users) -- a claim alone is refused; the command line acts as a user only when

* ``$BLINCOMPASS_TOKEN`` (or, at a terminal, a hidden prompt) gives that user's personal API token, or
* the process is the database's local administrator: on SQLite the operating-system owner of the database
  file (who can change the file at will, so refusing them would protect nothing); on PostgreSQL a personal
  login whose role name is the registry user's name (the server has checked the password).

A registry without any credentials keeps the name claim (a single-user or a trusted setting; see
``docs/security.md``).

Tokens
------
``blc_<id>_<secret>``: ``id`` (12 hex digits) finds the row, ``secret`` (32 random bytes, URL-safe base64)
proves possession. Only SHA-256 of the secret is stored. A fast hash is enough here, unlike for passwords:
the secret is 256 random bits, not something a person chose, so there is no dictionary to try and a
brute-force search is out of reach whatever the hash costs. The comparison is constant-time. A token can
expire (``expires_at``) and is revoked by deleting its row. Tokens are created by a coordinator (or the
local administrator) and shown once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from blincompass.registry.access import AccessDenied, Registry, RegistryError, User, utc_now

__all__ = [
    "ENV_TOKEN",
    "PASSWORD_COLUMNS",
    "AuthenticationError",
    "TokenInfo",
    "authenticate",
    "authenticate_admin",
    "create_token",
    "credentials_exist",
    "list_tokens",
    "local_administrator",
    "revoke_token",
    "verify_token",
]

#: Environment variable holding the caller's personal API token.
ENV_TOKEN = "BLINCOMPASS_TOKEN"
#: Columns that hold a password hash: a non-empty one anywhere in the registry means "has credentials".
PASSWORD_COLUMNS: tuple[str, ...] = ("password_hash", "password")

_TOKEN = re.compile(r"blc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


class AuthenticationError(RegistryError, PermissionError):
    """The command line could not establish who is acting; nothing was read or written."""


@dataclass(frozen=True)
class TokenInfo:
    """A stored token without its secret."""

    id: str
    user: str
    label: str | None
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _may_manage(registry: Registry, by: User | None) -> None:
    if by is not None and not by.is_coordinator:
        raise AccessDenied(by.name, by.centre, None, "only a coordinator manages logins and API tokens")


def create_token(
    registry: Registry, user: str, *, by: User | None, expires_days: int | None = None, label: str | None = None,
    local_admin: str | None = None,
) -> str:
    """Create a personal API token for ``user`` and return it (shown once; only its hash is stored).

    ``by`` is the coordinator creating it, or ``None`` with ``local_admin`` naming the database's local
    administrator (see :func:`local_administrator`).
    """
    _may_manage(registry, by)
    if by is None and not local_admin:
        raise AuthenticationError("creating an API token needs a coordinator or the database's administrator")
    if expires_days is not None and expires_days < 1:
        raise ValueError(f"--expires-days {expires_days}: give a number of days of at least 1")
    t = registry.tables["api_tokens"]
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    now = registry.clock()
    with registry.engine.begin() as conn:
        registry._user(conn, user)  # UnknownUser when not registered
        conn.execute(t.insert().values(
            id=token_id, user_name=user, secret_sha256=_digest(secret), label=label, created_at=now,
            created_by=by.name if by is not None else str(local_admin),
            expires_at=None if expires_days is None else now + dt.timedelta(days=expires_days)))
    return f"blc_{token_id}_{secret}"


def list_tokens(registry: Registry, *, by: User | None) -> list[TokenInfo]:
    """Every stored token (without secrets), oldest first; a coordinator's (or administrator's) task."""
    _may_manage(registry, by)
    t = registry.tables["api_tokens"]
    with registry.engine.connect() as conn:
        rows = conn.execute(sa.select(t).order_by(t.c.created_at, t.c.id)).all()
    return [TokenInfo(r.id, r.user_name, r.label, _aware(r.created_at), r.created_by,  # type: ignore[arg-type]
                      _aware(r.expires_at)) for r in rows]


def revoke_token(registry: Registry, token_id: str, *, by: User | None) -> bool:
    """Delete a token (by its id, the 12 hex digits after ``blc_``); ``False`` when there is none."""
    _may_manage(registry, by)
    t = registry.tables["api_tokens"]
    with registry.engine.begin() as conn:
        return conn.execute(t.delete().where(t.c.id == token_id)).rowcount > 0


def verify_token(registry: Registry, token: str) -> User:
    """The user a token belongs to; :class:`AuthenticationError` for a malformed, unknown, revoked or
    expired token (one message for all: nothing is learnt about which)."""
    refused = AuthenticationError("the API token is not valid (unknown, revoked, expired or mistyped)")
    m = _TOKEN.fullmatch(token.strip())
    if m is None:
        raise refused
    token_id, secret = m.groups()
    t = registry.tables["api_tokens"]
    with registry.engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.id == token_id)).first()
        if row is None:
            _digest(secret)  # the same work as for a known id
            raise refused
        if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
            raise refused
        expires = _aware(row.expires_at)
        if expires is not None and expires <= utc_now():
            raise refused
        return registry._user(conn, row.user_name)


def credentials_exist(engine: sa.Engine) -> bool:
    """Whether the registry holds an API token or a password (a column of :data:`PASSWORD_COLUMNS` that is
    set in some row): then a user name alone is not accepted on the command line."""
    inspector = sa.inspect(engine)
    tables = inspector.get_table_names()
    with engine.connect() as conn:
        if "api_tokens" in tables and conn.execute(sa.text("SELECT 1 FROM api_tokens LIMIT 1")).first():
            return True
        for table in tables:
            for col in inspector.get_columns(table):
                if col["name"] in PASSWORD_COLUMNS:
                    q = sa.text(f'SELECT 1 FROM "{table}" WHERE "{col["name"]}" IS NOT NULL '
                                f'AND "{col["name"]}" <> \'\' LIMIT 1')
                    if conn.execute(q).first():
                        return True
    return False


def _sqlite_file(engine: sa.Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # URI form: file:/path/registry.db?mode=ro
        database = database[5:].split("?", 1)[0]
    return Path(database)


def local_administrator(engine: sa.Engine, claimed: str | None = None) -> str | None:
    """Why the running process administers the database itself (a description), or ``None``.

    SQLite: the process's operating-system user owns the database file. PostgreSQL: the login is a personal
    role named ``claimed`` (the server authenticated it), or -- with ``claimed`` ``None`` -- the login owns
    the registry's tables (the owner role, for token management).
    """
    if engine.dialect.name == "sqlite":
        path = _sqlite_file(engine)
        geteuid = getattr(os, "geteuid", None)
        if path is None or geteuid is None or not path.exists():
            return None
        return f"owner of {path}" if path.stat().st_uid == geteuid() else None
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            login = conn.execute(sa.text("SELECT session_user")).scalar_one()
            if claimed is not None:
                # a personal login holds the application's rights through membership only; the shared
                # application role (granted on the tables directly) is no one's personal login
                direct = conn.execute(sa.text(
                    "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = session_user "
                    "AND table_schema = current_schema()")).scalar_one()
                return f"PostgreSQL login {login}" if login == claimed and direct == 0 else None
            owns = conn.execute(sa.text(
                "SELECT pg_has_role(session_user, c.relowner, 'USAGE') FROM pg_class c "
                "WHERE c.oid = to_regclass('users')")).scalar_one_or_none()
            return f"owner role {login}" if owns else None
    return None


def authenticate(
    registry: Registry, claimed: str | None, token: str | None, prompt: Callable[[], str] | None = None,
) -> User:
    """The user a command-line call acts as.

    ``claimed`` is ``--user`` / ``$BLINCOMPASS_USER``; ``token`` the personal API token (``None``: not
    given). Without credentials in the registry the claim is accepted as before (:class:`UnknownUser` if
    not registered). With credentials: a valid token (its user must equal a claim, if any), else the local
    administrator acting as the claimed user, else the token ``prompt`` returns (a terminal's hidden
    prompt); otherwise :class:`AuthenticationError`.
    """
    if token is not None:
        user = verify_token(registry, token)
        if claimed is not None and claimed != user.name:
            raise AuthenticationError(f"the API token is not user '{claimed}''s; drop --user or use their token")
        return user
    if claimed is None:
        raise AuthenticationError("no user: give --user NAME (or set BLINCOMPASS_USER)")
    if credentials_exist(registry.engine) and local_administrator(registry.engine, claimed) is None:
        if prompt is not None:
            return authenticate(registry, claimed, prompt())
        raise AuthenticationError(
            f"registry {registry.url} has credentials (API tokens or passwords): --user {claimed} is a claim, "
            f"not a login. Give your personal API token in ${ENV_TOKEN} (a coordinator creates it with "
            "`blincompass db token create NAME`)"
            + (", or run the command as the owner of the database file" if registry.engine.dialect.name == "sqlite"
               else ", or connect with a personal PostgreSQL login of that name"))
    return registry.as_user(claimed).user


def authenticate_admin(
    registry: Registry, claimed: str | None, token: str | None, prompt: Callable[[], str] | None = None,
) -> tuple[User | None, str | None]:
    """Who administers logins from the command line (API tokens, web passwords).

    With a user named (``claimed`` or ``token``): that user, authenticated by :func:`authenticate`, who must
    be a coordinator (else :class:`AccessDenied`) -- ``(user, None)``. Without: the database's local
    administrator (the SQLite file's owner, the PostgreSQL owner role) -- ``(None, description)``.
    Otherwise :class:`AuthenticationError`.
    """
    if claimed is not None or token is not None:
        user = authenticate(registry, claimed, token, prompt)
        if not user.is_coordinator:
            raise AccessDenied(user.name, user.centre, None, "only a coordinator manages logins and API tokens")
        return user, None
    admin = local_administrator(registry.engine)
    if admin is None:
        raise AuthenticationError(
            "managing logins and API tokens needs a coordinator (--user NAME, proven by their token) or the "
            "database's administrator (the owner of the SQLite file, or the PostgreSQL owner role)")
    return None, admin
