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
