"""The unit tree: loading it from a file, reading it, and the relations used for scoping."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
        errors = exc.errors(include_url=False)
        where = ".".join(str(part) for part in errors[0]["loc"]) if errors else ""
        first = f" ({where}: {errors[0]['msg']})" if errors else ""
        raise InvalidInput(f"Tệp đơn vị không hợp lệ{first}.", details=errors) from exc


def check_tree(session: Session, spec: UnitSpec) -> None:
    """Refuse a tree file that would make the unit tree lie, before anything is written.

    - a code twice in the file (it would be merged into one unit silently, the last place winning): the
      error names the code and both paths (``IAPA/CHUMO/X`` and ``IAPA/IATUL/X``); when the second place is
      under the first, the file asks for a unit below itself, and the error says it is a cycle;
    - a file that would re-parent a unit of the database under its own descendant (the file's root keeps its
      place in the database, e.g. a file ``CHUMO → IAPA`` loaded where IAPA is above CHUMO).
    """
    seen: dict[str, str] = {}

    def walk(node: UnitSpec, parent_path: str) -> None:
        path = f"{parent_path}/{node.code}" if parent_path else node.code
        first = seen.get(node.code)
        if first is not None:
            details = {"code": node.code, "paths": [first, path]}
            if path.startswith(first + "/"):
                raise InvalidInput(
                    f"Cây đơn vị có vòng lặp: mã {node.code} nằm dưới chính nó ({path}).", details=details
                )
            raise InvalidInput(
                f"Mã đơn vị {node.code} xuất hiện hai lần trong tệp: {first} và {path}.", details=details
            )
        seen[node.code] = path
        for child in node.children:
            walk(child, path)

    walk(spec, "")
    rows = session.execute(select(Unit.id, Unit.code, Unit.parent_id)).tuples().all()
    code_of = {uid: code for uid, code, _ in rows}
    parent: dict[str, str | None] = {code: code_of.get(p) if p else None for _, code, p in rows}

    def place(node: UnitSpec, parent_code: str | None) -> None:
        parent[node.code] = parent_code
        for child in node.children:
            place(child, node.code)

    place(spec, parent.get(spec.code))
    for start in seen:
        chain, current = [start], parent[start]
        while current is not None and current not in chain:
            chain.append(current)
            current = parent.get(current)
        if current is not None:  # back at a unit of the chain: a cycle
            loop = [*chain[chain.index(current) :], current]
            path = "/".join(reversed(loop))
            raise InvalidInput(
                f"Cây đơn vị có vòng lặp: nạp tệp sẽ đặt {current} dưới chính nó ({path}).",
                details={"code": current, "path": path},
            )


def load_tree(session: Session, spec: UnitSpec, actor: Actor | None = None) -> int:
    """Create or update the units of ``spec`` (matched by code). Returns how many units were written.

    The file's root keeps its place when it is already in the database (a commune's file of villages stays
    under its district); a new root is a root. :func:`check_tree` runs first: a refused file writes nothing.
    """
    check_tree(session, spec)
    count = 0

    def visit(node: UnitSpec, parent: Unit | None, position: int, root: bool = False) -> None:
        nonlocal count
        unit = session.scalar(select(Unit).where(Unit.code == node.code))
        if unit is None:
            unit = Unit(code=node.code, name=node.name, kind=node.kind, parent=parent, position=position)
            session.add(unit)
        elif root:
            unit.name, unit.kind = node.name, node.kind
        else:
            unit.name, unit.kind, unit.parent, unit.position = node.name, node.kind, parent, position
        session.flush()
        count += 1
        for i, child in enumerate(node.children):
            visit(child, unit, i)

    visit(spec, None, 0, root=True)
    audit.record(session, actor, "units.load", "unit", spec.code, {"count": count})
    return count


def seed_ia_pa(session: Session, actor: Actor | None = None) -> int:
    return load_tree(session, parse_tree_file(SEED_DIR / "ia-pa.json"), actor)


def get_by_code(session: Session, code: str) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise NotFound(f"Không có đơn vị mã {code}.", details={"unit": code})
    return unit


def each_by_code(session: Session, codes: list[str]) -> Iterator[Unit]:
    """The units of ``codes`` in their order, each once, read in one query (a province invites its 135
    communes); NotFound, as :func:`get_by_code`, when the iteration reaches a code no unit has."""
    wanted = list(dict.fromkeys(codes))
    found = {u.code: u for u in session.scalars(select(Unit).where(Unit.code.in_(wanted)))} if wanted else {}
    for code in wanted:
        unit = found.get(code)
        if unit is None:
            raise NotFound(f"Không có đơn vị mã {code}.", details={"unit": code})
        yield unit


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
