"""The embedded stack's member-hash key: random, private, the same across restarts."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.hashing import LOCAL_KEY_FILE, local_member_hash_key
from services.serving.settings import ServingSettings


def test_the_key_is_made_once_and_kept(tmp_path: Path) -> None:
    key = local_member_hash_key(tmp_path / "data")
    assert len(key) == 64 and int(key, 16) >= 0
    path = tmp_path / "data" / LOCAL_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A restart reads the same key; another data folder gets another one.
    assert local_member_hash_key(tmp_path / "data") == key
    assert local_member_hash_key(tmp_path / "other") != key
    assert [p.name for p in path.parent.iterdir()] == [LOCAL_KEY_FILE]


def test_processes_starting_together_agree(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: local_member_hash_key(tmp_path), range(32)))
    assert len(keys) == 1


def test_settings_never_default_to_a_public_key() -> None:
    assert ServingSettings().member_hash_key != ServingSettings().member_hash_key
    assert "member_hash_key" not in repr(ServingSettings())
