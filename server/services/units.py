"""The unit tree: loading it from a file, reading it, and the relations used for scoping."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound
from server.models import Unit
from server.services import audit
from server.services.context import Actor
from server.services.inputs import Text

SEED_DIR = Path(__file__).resolve().parent.parent / "data"
CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_.-]{0,31}$"


class UnitSpec(BaseModel):
    """One node of a unit-tree file (contract: ``giaoban seed units FILE.json``)."""

    code: str = Field(pattern=CODE_PATTERN)
    name: Annotated[str, Text(200)]
    kind: Annotated[str, Text(32)]
    aliases: list[Annotated[str, Text(200)]] = Field(default_factory=list)
    children: list[UnitSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class UnitNode:
    id: int
    code: str
    name: str
    kind: str
    parent_code: str | None
    children: list[UnitNode] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "parent": self.parent_code,
            "children": [c.to_json() for c in self.children],
        }


def parse_tree_file(path: Path) -> UnitSpec:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"Không đọc được tệp đơn vị {path}: {exc}") from exc
    try:
        return UnitSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput("Tệp đơn vị không hợp lệ.", details=exc.errors(include_url=False)) from exc


def load_tree(session: Session, spec: UnitSpec, actor: Actor | None = None) -> int:
    """Create or update the units of ``spec`` (matched by code). Returns how many units were written."""
    count = 0

    def visit(node: UnitSpec, parent: Unit | None, position: int) -> None:
        nonlocal count
        unit = session.scalar(select(Unit).where(Unit.code == node.code))
        if unit is None:
            unit = Unit(code=node.code, name=node.name, kind=node.kind, parent=parent, position=position)
            session.add(unit)
        else:
            unit.name, unit.kind, unit.parent, unit.position = node.name, node.kind, parent, position
        session.flush()
        count += 1
        for i, child in enumerate(node.children):
            visit(child, unit, i)

    visit(spec, None, 0)
    audit.record(session, actor, "units.load", "unit", spec.code, {"count": count})
    return count


def seed_ia_pa(session: Session, actor: Actor | None = None) -> int:
    return load_tree(session, parse_tree_file(SEED_DIR / "ia-pa.json"), actor)


def get_by_code(session: Session, code: str) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise NotFound(f"Không có đơn vị mã {code}.", details={"unit": code})
    return unit


def tree(session: Session) -> list[UnitNode]:
    units = list(session.scalars(select(Unit).order_by(Unit.position, Unit.id)))
    by_id = {u.id: u for u in units}
    nodes = {
        u.id: UnitNode(u.id, u.code, u.name, u.kind, by_id[u.parent_id].code if u.parent_id else None)
        for u in units
    }
    roots: list[UnitNode] = []
    for u in units:
        node = nodes[u.id]
        if u.parent_id is None:
            roots.append(node)
        else:
            nodes[u.parent_id].children.append(node)
    return roots


def descendant_ids(session: Session, unit_id: int) -> set[int]:
    """The unit and every unit below it."""
    rows = session.execute(select(Unit.id, Unit.parent_id)).all()
    children: dict[int, list[int]] = {}
    for uid, parent in rows:
        if parent is not None:
            children.setdefault(parent, []).append(uid)
    out, stack = set(), [unit_id]
    while stack:
        current = stack.pop()
        if current not in out:
            out.add(current)
            stack.extend(children.get(current, []))
    return out
