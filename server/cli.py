"""The ``giaoban`` command line (contract: ../shared/docs/contract.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from server.config import Settings
from server.errors import GiaobanError

log = logging.getLogger("giaoban")

DEMO_ACCOUNTS: tuple[tuple[str, str, str, str], ...] = (
    ("admin", "admin", "IAPA", "Quản trị hệ thống"),
    ("chutri", "chair", "IAPA", "Chủ tịch UBND huyện"),
    ("thuky", "clerk", "IAPA", "Thư ký cuộc họp"),
    ("chumo", "member", "CHUMO", "Điểm cầu xã Chư Mố"),
    ("churang", "member", "CHURANG", "Điểm cầu xã Chư Răng"),
    ("iabroai", "member", "IABROAI", "Điểm cầu xã Ia Broăi"),
    ("iakdam", "member", "IAKDAM", "Điểm cầu xã Ia Kdăm"),
    ("iamron", "member", "IAMRON", "Điểm cầu xã Ia Mrơn"),
    ("iatrok", "member", "IATROK", "Điểm cầu xã Ia Trốk"),
    ("iatul", "member", "IATUL", "Điểm cầu xã Ia Tul"),
    ("kimtan", "member", "KIMTAN", "Điểm cầu xã Kim Tân"),
    ("poto", "member", "POTO", "Điểm cầu xã Pờ Tó"),
    ("giamsat", "viewer", "IAPA", "Cán bộ theo dõi"),
)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return Settings(**overrides)  # type: ignore[arg-type]


def _db(settings: Settings):  # type: ignore[no-untyped-def]
    from server.db import Database, migrate

    migrate(settings)
    return Database(settings)


def cmd_init(args: argparse.Namespace) -> int:
    from server.db import migrate

    settings = _settings(args)
    migrate(settings)
    print(f"Đã khởi tạo cơ sở dữ liệu: {settings.resolved_database_url.split('@')[-1]}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from server.services import units

    settings = _settings(args)
    db = _db(settings)
    with db.session() as session:
        if args.what == "ia-pa":
            count = units.seed_ia_pa(session)
        else:
            if not args.file:
                raise SystemExit("giaoban seed units FILE.json")
            count = units.load_tree(session, units.parse_tree_file(Path(args.file)))
    print(f"Đã nạp {count} đơn vị.")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from server.services import accounts

    if not args.password_stdin:
        raise SystemExit("Cần --password-stdin (mật khẩu đọc từ đầu vào chuẩn).")
    password = sys.stdin.readline().rstrip("\r\n")
    settings = _settings(args)
    db = _db(settings)
    with db.session() as session:
        user = accounts.create_user(
            session,
            username=args.username,
            password=password,
            role=args.role,
            unit_code=args.unit,
            full_name=args.full_name or "",
        )
        print(f"Đã tạo tài khoản {user.username} ({user.role.value}, {args.unit}).")
    return 0


def seed_demo(settings: Settings) -> list[tuple[str, str, str, str]]:
    """Seed Ia Pa, its communes and demo accounts with fresh one-time passwords; schedule a demo meeting."""
    from sqlalchemy import select

    from server.models import Meeting, User
    from server.security import new_password
    from server.services import accounts, meetings, units
    from server.services.meetings import AgendaInput, MeetingCreate

    db = _db(settings)
    creds: list[tuple[str, str, str, str]] = []
    with db.session() as session:
        units.seed_ia_pa(session)
        for username, role, unit, name in DEMO_ACCOUNTS:
            password = new_password()
            if session.scalar(select(User).where(User.username == username)) is None:
                accounts.create_user(
                    session, username=username, password=password, role=role, unit_code=unit, full_name=name
                )
            else:
                accounts.set_password(session, username, password)
            creds.append((username, password, role, unit))
        if session.scalar(select(Meeting.id).limit(1)) is None:
            chair = session.scalar(select(User).where(User.username == "chutri"))
            assert chair is not None
            actor = accounts.actor_of(chair)
            meetings.create(
                session,
                actor,
                MeetingCreate(
                    title="Họp giao ban trực tuyến UBND huyện với các xã",
                    chair_unit="IAPA",
                    units=[u for _, r, u, _ in DEMO_ACCOUNTS if r == "member"],
                    starts_at=dt.datetime.now(dt.UTC),
                    record=True,
                    agenda=[
                        AgendaInput(title=t)
                        for t in (
                            "Tình hình kinh tế - xã hội tháng",
                            "Kiểm điểm kết luận kỳ trước",
                            "Nhiệm vụ trọng tâm tháng tới",
                        )
                    ],
                    place="Hội trường UBND huyện Ia Pa và các điểm cầu xã",
                ),
            )
    db.dispose()
    return creds


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app

    settings = _settings(args)
    logging.getLogger().setLevel(settings.log_level.upper())
    if args.demo:
        creds = seed_demo(settings)
        print("Tài khoản dùng thử (mật khẩu chỉ in một lần):")
        for username, password, role, unit in creds:
            print(f"  {username:10s} {password}  {role:7s} {unit}")
    print(
        f"giaoban đang chạy tại http://{settings.host}:{settings.port}/ (dữ liệu: {settings.data_dir})",
        flush=True,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        ws_max_size=settings.max_message_bytes,
    )
    return 0


def cmd_settings(_args: argparse.Namespace) -> int:
    for name, field in Settings.model_fields.items():
        print(f"GIAOBAN_{name.upper()}\t{field.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="giaoban", description="Họp trực tuyến và biên bản cho chính quyền."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="thư mục dữ liệu (GIAOBAN_DATA_DIR)")

    p = sub.add_parser("serve", help="chạy máy chủ")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    data_dir(p)
    p.add_argument("--demo", action="store_true", help="nạp huyện Ia Pa và 9 xã, in tài khoản dùng thử")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("init", help="tạo hoặc nâng cấp cơ sở dữ liệu")
    data_dir(p)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("seed", help="nạp cây đơn vị")
    p.add_argument("what", choices=["units", "ia-pa"])
    p.add_argument("file", nargs="?")
    data_dir(p)
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("user", help="quản lý tài khoản")
    usub = p.add_subparsers(dest="user_command", required=True)
    pa = usub.add_parser("add", help="tạo tài khoản")
    pa.add_argument("username")
    pa.add_argument("--role", required=True, choices=["admin", "chair", "clerk", "member", "viewer"])
    pa.add_argument("--unit", required=True)
    pa.add_argument("--full-name")
    pa.add_argument("--password-stdin", action="store_true")
    data_dir(pa)
    pa.set_defaults(func=cmd_user_add)

    p = sub.add_parser("settings", help="liệt kê các biến cấu hình GIAOBAN_*")
    p.set_defaults(func=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("GIAOBAN_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GiaobanError as exc:
        print(f"Lỗi: {exc.message}", file=sys.stderr)
        if exc.details:
            print(json.dumps(exc.details, ensure_ascii=False, default=str), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
