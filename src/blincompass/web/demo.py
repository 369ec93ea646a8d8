"""The demo registry: the synthetic twin in an SQLite registry with demo users for the web application."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_PASSWORD", "build_demo_registry"]

#: The password of every demo user (synthetic data only; never use it for a real registry).
DEMO_PASSWORD = "demo-registry-2024"


def build_demo_registry(data_dir: Path, db_path: Path) -> list[tuple[str, str, str | None]]:
    """Create ``db_path`` (replacing an earlier demo registry) holding the twin in ``data_dir``, its centres,
    a coordinator ``coord``, a monitor ``monitor`` and one data manager per centre (``dm-<centre>``), each with
    the password :data:`DEMO_PASSWORD`. Returns ``(user, role, centre)`` for each user."""
    import pandas as pd

    from blincompass.registry import Registry
    from blincompass.registry.auth import hash_password, set_password

    db_path.parent.mkdir(parents=True, exist_ok=True)
    for p in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        p.unlink(missing_ok=True)
    reg = Registry(f"sqlite:///{db_path}")
    try:
        reg.init()
        centres = sorted(set(pd.read_csv(data_dir / "patients.csv", dtype=str)["centre"]))
        for c in centres:
            reg.add_centre(c, f"Synthetic centre {c}")
        users: list[tuple[str, str, str | None]] = [("coord", "coordinator", None), ("monitor", "monitor", None)]
        users += [(f"dm-{c.lower()}", "centre", c) for c in centres]
        # one Argon2 hash for the one published demo password (nine hashes took 2.5 s of the demo)
        digest = hash_password(DEMO_PASSWORD)
        for name, role, centre in users:
            reg.add_user(name, role, centre, by=None if name == "coord" else "coord")
            set_password(reg, name, DEMO_PASSWORD, password_hash=digest)
        reg.as_user("coord").import_path(data_dir)
    finally:
        reg.engine.dispose()
    return users
