"""The demo registry: the synthetic twin in an SQLite registry with demo users for the web application."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_PASSWORD", "DEMO_PASSWORD_HASH", "build_demo_registry", "create_demo_registry", "demo_password_hash",
           "import_demo_data"]

#: The password of every demo user (synthetic data only; never use it for a real registry).
DEMO_PASSWORD = "demo-registry-2024"
#: The Argon2id hash of :data:`DEMO_PASSWORD` the demo users get. The password is published, so a salt
#: fixed in the code hides nothing a random one would; hashing it at every demo took 0.1 s. It is used only
#: while the registry's hasher takes it as it is (same parameters; see :func:`demo_password_hash`).
DEMO_PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$SPCfwN9LgzfP3jwvnY1PSA$dTuiWXG5Z+6CYHkS7+iP9DUeWvrrVtjG8RGM4lv5Zoo"


def build_demo_registry(data_dir: Path, db_path: Path) -> list[tuple[str, str, str | None]]:
    """Create ``db_path`` (replacing an earlier demo registry) holding the twin in ``data_dir``, its centres,
    a coordinator ``coord``, a monitor ``monitor`` and one data manager per centre (``dm-<centre>``), each with
    the password :data:`DEMO_PASSWORD`. Returns ``(user, role, centre)`` for each user.

    The same as :func:`create_demo_registry` then :func:`import_demo_data` (``blincompass demo`` runs the two
    as separate jobs of its figure worker: the first while the command reads and analyses the data, the
    second once the worker has drawn the figures)."""
    users = create_demo_registry(data_dir, db_path)
    import_demo_data(data_dir, db_path)
    return users


def create_demo_registry(data_dir: Path, db_path: Path) -> list[tuple[str, str, str | None]]:
    """The demo registry without its patients: ``db_path`` created (an earlier one replaced) with the
    centres of the twin in ``data_dir`` and the demo users (see :func:`build_demo_registry`)."""
    import csv

    from blincompass.registry import Registry
    from blincompass.registry.auth import set_password

    db_path.parent.mkdir(parents=True, exist_ok=True)
    for p in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        p.unlink(missing_ok=True)
    with open(data_dir / "patients.csv", newline="", encoding="utf-8-sig") as fh:
        centres = sorted({row["centre"] for row in csv.DictReader(fh)})
    reg = Registry(f"sqlite:///{db_path}")
    try:
        reg.init()
        for c in centres:
            reg.add_centre(c, f"Synthetic centre {c}")
        users: list[tuple[str, str, str | None]] = [("coord", "coordinator", None), ("monitor", "monitor", None)]
        users += [(f"dm-{c.lower()}", "centre", c) for c in centres]
        digest = demo_password_hash()  # one hash for the one published password (nine took 2.5 s)
        for name, role, centre in users:
            reg.add_user(name, role, centre, by=None if name == "coord" else "coord")
            set_password(reg, name, DEMO_PASSWORD, password_hash=digest)
    finally:
        reg.engine.dispose()
    return users


def demo_password_hash() -> str:
    """:data:`DEMO_PASSWORD_HASH`, or a new hash of :data:`DEMO_PASSWORD` when the registry's hasher would
    rehash that one (its parameters changed)."""
    from blincompass.registry.auth import hash_password, needs_rehash

    if needs_rehash(DEMO_PASSWORD_HASH):
        return hash_password(DEMO_PASSWORD)
    return DEMO_PASSWORD_HASH


def import_demo_data(data_dir: Path, db_path: Path) -> None:
    """Import the twin in ``data_dir`` into the demo registry ``db_path`` (made by
    :func:`create_demo_registry`), as its coordinator."""
    from blincompass.registry import Registry

    reg = Registry(f"sqlite:///{db_path}")
    try:
        reg.as_user("coord").import_path(data_dir)
    finally:
        reg.engine.dispose()
