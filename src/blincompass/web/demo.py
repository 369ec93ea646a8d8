"""The demo registry: the synthetic twin in an SQLite registry with demo users for the web application."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_PASSWORD", "build_demo_registry", "create_demo_registry", "import_demo_data"]

#: The password of every demo user (synthetic data only; never use it for a real registry).
DEMO_PASSWORD = "demo-registry-2024"


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
    from blincompass.registry.auth import hash_password, set_password

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
        # one Argon2 hash for the one published demo password (nine hashes took 2.5 s of the demo)
        digest = hash_password(DEMO_PASSWORD)
        for name, role, centre in users:
            reg.add_user(name, role, centre, by=None if name == "coord" else "coord")
            set_password(reg, name, DEMO_PASSWORD, password_hash=digest)
    finally:
        reg.engine.dispose()
    return users


def import_demo_data(data_dir: Path, db_path: Path) -> None:
    """Import the twin in ``data_dir`` into the demo registry ``db_path`` (made by
    :func:`create_demo_registry`), as its coordinator."""
    from blincompass.registry import Registry

    reg = Registry(f"sqlite:///{db_path}")
    try:
        reg.as_user("coord").import_path(data_dir)
    finally:
        reg.engine.dispose()
