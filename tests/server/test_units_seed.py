"""Unit-tree files that would make the tree lie (issue 19): a code twice, a unit under itself (in the file, or
against the units already in the database). ``giaoban seed units`` refuses them with one line and exit status
2, no traceback, nothing written; the service raises InvalidInput naming the code and the paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.config import Settings
from server.db import Database, migrate
from server.errors import InvalidInput
from server.models import AuditEvent, Unit
from server.services import units
from tests.server.test_cli import giaoban


def node(code: str, *children: dict[str, Any], kind: str = "commune") -> dict[str, Any]:
    return {"code": code, "name": f"Đơn vị {code}", "kind": kind, "children": list(children)}


def write(tmp_path: Path, tree: dict[str, Any]) -> str:
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(tree, ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    migrate(settings)
    database = Database(settings)
    try:
        yield database
    finally:
        database.dispose()


def parents(db: Database) -> dict[str, str | None]:
    with db.session() as session:
        rows = session.execute(select(Unit.id, Unit.code, Unit.parent_id)).tuples().all()
        code_of = {uid: code for uid, code, _ in rows}
        return {code: code_of.get(p) if p else None for _, code, p in rows}


def audit_rows(db: Database) -> int:
    with db.session() as session:
        return len(session.scalars(select(AuditEvent.id)).all())


DUPLICATE = node("TINH", node("HUYEN1", node("XA1")), node("HUYEN2", node("XA1")), kind="province")
OWN_ANCESTOR = node("TINH", node("HUYEN1", node("XA1", node("HUYEN1"))), kind="province")


def refused(r: Any) -> str:
    """The CLI's refusal: exit status 2, one line on stderr, no traceback; returns that line."""
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("Lỗi: ")
    return lines[0]


def test_cli_refuses_a_code_twice_naming_it_and_both_paths(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    giaoban(settings, "seed", "ia-pa")
    before, audits = parents(db), audit_rows(db)
    line = refused(giaoban(settings, "seed", "units", write(tmp_path, DUPLICATE), check=False))
    assert "XA1" in line and "TINH/HUYEN1/XA1" in line and "TINH/HUYEN2/XA1" in line and "hai lần" in line
    assert parents(db) == before and audit_rows(db) == audits


def test_cli_refuses_a_code_under_itself(settings: Settings, db: Database, tmp_path: Path) -> None:
    line = refused(giaoban(settings, "seed", "units", write(tmp_path, OWN_ANCESTOR), check=False))
    assert "vòng lặp" in line and "TINH/HUYEN1/XA1/HUYEN1" in line
    assert parents(db) == {}


def test_cli_refuses_a_database_unit_under_its_own_descendant(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    giaoban(settings, "seed", "ia-pa")
    before, audits = parents(db), audit_rows(db)
    # IAPA is above CHUMO in the database; this file would hang IAPA under CHUMO, which stays under IAPA
    line = refused(
        giaoban(settings, "seed", "units", write(tmp_path, node("CHUMO", node("IAPA"))), check=False)
    )
    assert "vòng lặp" in line and "CHUMO/IAPA/CHUMO" in line
    assert parents(db) == before and audit_rows(db) == audits
    # one level further down: a village file that names the district under a village
    deep = node("CHUMO", node("THON1", node("IAPA", kind="district"), kind="village"))
    line = refused(giaoban(settings, "seed", "units", write(tmp_path, deep), check=False))
    assert "CHUMO/THON1/IAPA/CHUMO" in line
    assert parents(db) == before


def test_cli_loads_a_commune_file_under_its_district(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    giaoban(settings, "seed", "ia-pa")
    villages = node("CHUMO", node("CHUMO-T1", kind="village"), node("CHUMO-T2", kind="village"))
    r = giaoban(settings, "seed", "units", write(tmp_path, villages))
    assert r.stdout.strip() == "Đã nạp 3 đơn vị."
    after = parents(db)
    assert after["CHUMO"] == "IAPA" and after["CHUMO-T1"] == after["CHUMO-T2"] == "CHUMO"
    assert after["IAPA"] is None


def test_cli_malformed_file_is_one_line_too(settings: Settings, tmp_path: Path) -> None:
    bad = node("TINH", {"code": "xa thuong", "name": "X", "kind": "commune"}, kind="province")
    line = refused(giaoban(settings, "seed", "units", write(tmp_path, bad), check=False))
    assert "không hợp lệ" in line and "children.0.code" in line


def test_service_errors_name_the_code_and_paths(db: Database) -> None:
    with db.session() as session:
        units.seed_ia_pa(session)
    for tree, code, paths in (
        (DUPLICATE, "XA1", ["TINH/HUYEN1/XA1", "TINH/HUYEN2/XA1"]),
        (OWN_ANCESTOR, "HUYEN1", ["TINH/HUYEN1", "TINH/HUYEN1/XA1/HUYEN1"]),
    ):
        with pytest.raises(InvalidInput) as err, db.session() as session:
            units.load_tree(session, units.UnitSpec.model_validate(tree))
        assert err.value.details == {"code": code, "paths": paths}
    with pytest.raises(InvalidInput) as err, db.session() as session:
        units.load_tree(session, units.UnitSpec.model_validate(node("POTO", node("IAPA"))))
    assert err.value.details == {"code": "POTO", "path": "POTO/IAPA/POTO"}
    with db.session() as session:  # the tree is still the seed: a district over nine communes, one root
        (root,) = units.tree(session)
        assert root.code == "IAPA" and len(root.children) == 9
