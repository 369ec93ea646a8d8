"""The demo registry that ``blincompass demo`` builds: its users log in with the published demo password."""

from __future__ import annotations

from blincompass.registry import Registry
from blincompass.registry.auth import authenticate
from blincompass.synth import write_twin
from blincompass.web.demo import DEMO_PASSWORD, build_demo_registry


def test_demo_users_log_in_with_the_demo_password(tmp_path):
    write_twin(tmp_path / "data", 0)
    users = build_demo_registry(tmp_path / "data", tmp_path / "registry.db")
    assert [u[:2] for u in users[:2]] == [("coord", "coordinator"), ("monitor", "monitor")]
    assert len(users) > 3 and all(role == "centre" and name == f"dm-{c.lower()}" for name, role, c in users[2:])
    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        for name, role, centre in (users[0], users[-1]):  # each login costs one Argon2 verification
            user = authenticate(reg, name, DEMO_PASSWORD)
            assert user is not None and user.name == name and user.role == role and user.centre == centre
        assert authenticate(reg, users[1][0], DEMO_PASSWORD + "x") is None
    finally:
        reg.engine.dispose()


def test_the_demo_builds_its_registry_in_the_worker_with_every_patient(tmp_path):
    """With a figure worker, ``blincompass demo`` makes the registry's users while it analyses the data and
    imports the patients once the worker has drawn the figures: the registry ends up whole all the same."""
    import subprocess
    import sys

    import sqlalchemy as sa

    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-c", "from blincompass.cli import app; app()", "demo", "--jobs", "2",
                           "--no-progress", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Web registry:" in proc.stdout and (out / "report" / "report.docx").is_file()
    eng = sa.create_engine(f"sqlite:///{out / 'registry.db'}")
    try:
        with eng.connect() as conn:
            n = conn.execute(sa.text("select count(*) from patients")).scalar_one()
            twin = conn.execute(sa.text("select count(distinct centre) from patients")).scalar_one()
            users = conn.execute(sa.text("select count(*) from users")).scalar_one()
    finally:
        eng.dispose()
    assert (n, twin, users) == (39, 7, 9)


def test_the_fixed_demo_hash_verifies_the_demo_password_under_the_current_parameters(monkeypatch):
    from blincompass.registry import auth
    from blincompass.web import demo

    assert auth.verify_password(demo.DEMO_PASSWORD_HASH, DEMO_PASSWORD)
    assert not auth.verify_password(demo.DEMO_PASSWORD_HASH, DEMO_PASSWORD + "!")
    assert demo.demo_password_hash() == demo.DEMO_PASSWORD_HASH  # the hasher takes it as it is
    # with other parameters the fixed hash is not used: a new one is made with them
    from argon2 import PasswordHasher, Type

    monkeypatch.setattr(auth, "_hasher", lambda: PasswordHasher(time_cost=2, memory_cost=8192, type=Type.ID))
    fresh = demo.demo_password_hash()
    assert fresh != demo.DEMO_PASSWORD_HASH and "$m=8192,t=2," in fresh
    assert auth.verify_password(fresh, DEMO_PASSWORD)
