"""Running the web application: the registry engine for a server, uvicorn, and a server in a thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import sqlalchemy as sa

from blincompass.registry.access import Registry
from blincompass.registry.db import create_engine
from blincompass.web.app import WebConfig, create_app

__all__ = ["ServerThread", "free_port", "registry_for_server", "run"]


def _wal(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode = WAL")  # readers do not wait for the writer
    cur.execute("PRAGMA synchronous = NORMAL")  # durable at every checkpoint; safe with WAL
    cur.close()


def registry_for_server(url: str, dictionary: Any = None) -> Registry:
    """A :class:`Registry` whose engine suits a multi-threaded server: SQLite in WAL mode with a generous
    busy timeout (writers queue instead of failing), or a PostgreSQL connection pool."""
    u = sa.make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=20, max_overflow=40)
        sa.event.listen(engine, "connect", _wal)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    return Registry(engine, dictionary=dictionary)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def run(config: WebConfig, host: str = "127.0.0.1", port: int = 8000, *, proxy_headers: bool = False) -> None:
    """Serve until interrupted (uvicorn)."""
    import uvicorn

    uvicorn.run(create_app(config), host=host, port=port, proxy_headers=proxy_headers,
                forwarded_allow_ips="127.0.0.1" if proxy_headers else None, log_level="info",
                server_header=False)


class ServerThread:
    """The application served by uvicorn in a background thread (tests and benchmarks)::

        with ServerThread(config) as base_url:
            ...
    """

    def __init__(self, config: WebConfig, host: str = "127.0.0.1", port: int | None = None) -> None:
        import uvicorn

        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(uvicorn.Config(create_app(config), host=host, port=self.port,
                                                    log_level="warning", server_header=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
