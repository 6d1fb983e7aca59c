"""Password hashing profiles (GIAOBAN_PASSWORD_HASHING): the product's default is RFC 9106's argon2id, a hash
records its parameters and verifies under either profile, and the app applies its settings' profile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import extract_parameters

from server import security
from server.app import create_app
from server.config import Settings


@pytest.fixture(autouse=True)
def _restore_profile() -> Iterator[None]:
    yield
    security.use_password_hashing(Settings().password_hashing)  # the suite's (tests/env.py)


def test_the_default_is_the_strong_profile() -> None:
    assert Settings.model_fields["password_hashing"].default == "strong"
    security.use_password_hashing("strong")
    params = extract_parameters(security.hash_password("mật khẩu"))
    assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)
    assert params.type.name == "ID"


def test_a_hash_verifies_under_the_other_profile_and_a_wrong_password_does_not() -> None:
    security.use_password_hashing("strong")
    strong = security.hash_password("Ia Pa 2026")
    security.use_password_hashing("minimal")
    minimal = security.hash_password("Ia Pa 2026")
    params = extract_parameters(minimal)
    assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 19456, 1)
    assert security.verify_password(strong, "Ia Pa 2026")
    assert not security.verify_password(strong, "ia pa 2026")
    security.use_password_hashing("strong")
    assert security.verify_password(minimal, "Ia Pa 2026")
    assert not security.verify_password(None, "Ia Pa 2026")  # an unknown user: the dummy hash, refused


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown password hashing profile"):
        security.use_password_hashing("md5")


def test_the_app_hashes_under_its_settings_profile(tmp_path: Path) -> None:
    create_app(Settings(data_dir=tmp_path, password_hashing="strong"))
    assert extract_parameters(security.hash_password("x")).memory_cost == 65536
    create_app(Settings(data_dir=tmp_path, password_hashing="minimal"))
    assert extract_parameters(security.hash_password("x")).memory_cost == 19456
