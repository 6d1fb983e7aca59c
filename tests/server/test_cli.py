"""The CLI as a user runs it: subprocesses on a fresh data dir (and the run's database backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from server.config import Settings


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIAOBAN_")}
    env["GIAOBAN_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["GIAOBAN_DATABASE_URL"] = settings.database_url
    return env


def giaoban(
    settings: Settings, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(settings),
        timeout=120,
        check=check,
    )


def test_init_seed_and_user_add(settings: Settings, tmp_path: Path) -> None:
    assert "Đã khởi tạo" in giaoban(settings, "init").stdout
    assert giaoban(settings, "seed", "ia-pa").stdout.strip() == "Đã nạp 10 đơn vị."
    province = {
        "code": "GIALAI",
        "name": "UBND tỉnh Gia Lai",
        "kind": "province",
        "children": [
            {
                "code": "XA1",
                "name": "UBND xã Một",
                "kind": "commune",
                "children": [{"code": "THON1", "name": "Thôn 1", "kind": "village"}],
            }
        ],
    }
    tree = tmp_path / "tree.json"
    tree.write_text(json.dumps(province, ensure_ascii=False), encoding="utf-8")
    assert "Đã nạp 3 đơn vị." in giaoban(settings, "seed", "units", str(tree)).stdout
    out = giaoban(
        settings,
        "user",
        "add",
        "thuky",
        "--role",
        "clerk",
        "--unit",
        "IAPA",
        "--password-stdin",
        stdin="mot-mat-khau-dai\n",
    ).stdout
    assert "thuky" in out
    dup = giaoban(
        settings,
        "user",
        "add",
        "thuky",
        "--role",
        "clerk",
        "--unit",
        "IAPA",
        "--password-stdin",
        stdin="mot-mat-khau-dai\n",
        check=False,
    )
    assert dup.returncode == 2 and "đã tồn tại" in dup.stderr
    bad_unit = giaoban(
        settings,
        "user",
        "add",
        "x1",
        "--role",
        "member",
        "--unit",
        "NOPE",
        "--password-stdin",
        stdin="mot-mat-khau-dai\n",
        check=False,
    )
    assert bad_unit.returncode == 2 and "NOPE" in bad_unit.stderr


def test_seed_rejects_a_malformed_tree(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"code": "lower case", "name": "", "kind": "x"}', encoding="utf-8")
    r = giaoban(settings, "seed", "units", str(bad), check=False)
    assert r.returncode == 2 and "không hợp lệ" in r.stderr


@pytest.mark.e2e
def test_serve_demo_then_login_over_http(settings: Settings) -> None:
    from tests.server.live_harness import LiveServer

    server = LiveServer(settings.data_dir, settings.database_url).start()
    try:
        assert {"admin", "chutri", "thuky", "chumo", "poto"} <= set(server.creds)
        creds = {"username": "chumo", "password": server.creds["chumo"]}
        r = httpx.post(f"{server.url}/api/auth/login", json=creds)
        assert r.status_code == 200
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        meetings = httpx.get(f"{server.url}/api/meetings", headers=headers).json()
        assert len(meetings) == 1 and "CHUMO" in meetings[0]["units"] and len(meetings[0]["units"]) == 9
        tree = httpx.get(f"{server.url}/api/units", headers=headers).json()["units"]
        assert tree[0]["code"] == "IAPA" and len(tree[0]["children"]) == 9
    finally:
        server.stop()
