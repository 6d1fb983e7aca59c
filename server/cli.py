"""The ``giaoban`` command line (contract: ../shared/docs/contract.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from server.config import Settings
from server.errors import GiaobanError
from server.security import use_password_hashing

if TYPE_CHECKING:
    import uvicorn

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

# Unit trees shipped in server/data beside Ia Pa's, by `giaoban seed` name (server/data/README.md).
SHIPPED_TREES: dict[str, str] = {"gia-lai": "gia-lai.json"}


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    use_password_hashing(settings.password_hashing)
    return settings


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
    if args.what == "units" and not args.file:
        raise SystemExit("giaoban seed units FILE.json")
    db = _db(settings)
    try:
        with db.session() as session:  # one transaction: a refused tree writes nothing
            if args.what == "ia-pa":
                count = units.seed_ia_pa(session)
            else:
                path = Path(args.file) if args.what == "units" else units.SEED_DIR / SHIPPED_TREES[args.what]
                count = units.load_tree(session, units.parse_tree_file(path))
    except GiaobanError as exc:
        print(f"Lỗi: {exc.message}", file=sys.stderr)  # one line: the message names the code and the paths
        return 2
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
            position=args.position or "",
        )
        print(f"Đã tạo tài khoản {user.username} ({user.role.value}, {args.unit}).")
    return 0


def cmd_user_unlock(args: argparse.Namespace) -> int:
    from server.services import accounts

    db = _db(_settings(args))
    with db.session() as session:
        accounts.unlock(session, None, username=args.username, address=args.address)
    extra = f" và địa chỉ {args.address}" if args.address else ""
    print(f"Đã mở khóa đăng nhập cho tài khoản {args.username}{extra}.")
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
    from server.security import install_log_redaction

    settings = _settings(args)
    logging.getLogger().setLevel(settings.log_level.upper())
    install_log_redaction()  # no session token or socket ticket in the access log
    banner: list[str] = []
    if args.demo:
        creds = seed_demo(settings)
        banner.append("Tài khoản dùng thử (mật khẩu chỉ in một lần):")
        banner += [f"  {user:10s} {password}  {role:7s} {unit}" for user, password, role, unit in creds]
    url = f"http://{settings.host}:{settings.port}/"
    banner.append(f"giaoban đang chạy tại {url} (dữ liệu: {settings.data_dir})")
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        ws_max_size=settings.max_message_bytes * 4,
    )
    _run_with_banner(config, "\n".join(banner))
    return 0


def _run_with_banner(config: uvicorn.Config, banner: str) -> None:
    """Run uvicorn and print the banner (URL, one-time demo passwords) once it is listening: the last lines a
    person sees, below the migration and startup logs."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                sys.stderr.flush()
                print(banner, flush=True)

    Server(config).run()


def cmd_worker(args: argparse.Namespace) -> int:
    """Run background jobs (transcription) against the configured database and queue until interrupted."""
    from server.background import Background

    settings = _settings(args)
    logging.getLogger().setLevel(settings.log_level.upper())
    db = _db(settings)
    background = Background(settings, db)
    print(f"giaoban worker: hàng đợi {background.queue.backend}, đang chờ việc…", flush=True)
    try:
        background.run_worker_forever()
    except KeyboardInterrupt:
        pass
    finally:
        db.dispose()
    return 0


def cmd_bot(args: argparse.Namespace) -> int:
    import asyncio

    from server.bot import BotError, BotOptions, run_bot

    if not args.password_stdin:
        raise SystemExit("Cần --password-stdin (mật khẩu đọc từ đầu vào chuẩn).")
    password = sys.stdin.readline().rstrip("\r\n")
    settings = Settings()
    opts = BotOptions(
        server=args.server,
        meeting_id=args.meeting,
        username=args.username,
        password=password,
        play=Path(args.play) if args.play else None,
        video=args.video,
        thumbnail=args.thumbnail,
        wall_every_s=args.wall_every,
        duration_s=args.duration,
        stats_json=Path(args.stats_json) if args.stats_json else None,
        captions_json=Path(args.captions_json) if args.captions_json else None,
    )
    try:
        stats = asyncio.run(run_bot(opts, settings))
    except BotError as exc:
        print(f"Lỗi: {exc}", file=sys.stderr)
        return 2
    for p in stats.participants:
        print(
            f"{p.username:12s} {p.unit:10s} âm thanh {p.audio_frames:6d} khung, "
            f"hình {p.video_frames:5d} khung, mất {p.packets_lost} gói, lỗi giải mã {p.decode_errors}"
        )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from transcription.errors import ModelNotFoundError
    from transcription.models import list_models

    settings = _settings(args)
    try:
        found = list_models(settings.asr_model, cache_dir=settings.resolved_model_cache_dir)
    except ModelNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not found:
        from transcription.models import NOT_FOUND_MESSAGE

        print(NOT_FOUND_MESSAGE.format(cache=settings.resolved_model_cache_dir), file=sys.stderr)
        return 2
    for i, m in enumerate(found):
        mark = "*" if i == 0 else " "
        print(f"{mark} {m.name:24s} {m.format:15s} {m.source:8s} {m.size_bytes / 1e6:7.1f} MB  {m.path}")
    print(f"Động cơ: {settings.asr_engine}; mô hình được dùng: {found[0].name} (*)")
    return 0


def cmd_transcript(args: argparse.Namespace) -> int:
    """Show a meeting's transcription progress as a bar until it is done or failed (``--wait``)."""
    import time

    from sqlalchemy import select

    from server.models import Transcript

    settings = _settings(args)
    db = _db(settings)
    width = 40
    while True:
        with db.session() as session:
            row = session.scalar(select(Transcript).where(Transcript.meeting_id == args.meeting))
            status, progress, error = (
                (row.status.value, row.progress, row.error) if row else ("none", 0.0, "")
            )
        filled = int(progress * width)
        sys.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {progress * 100:5.1f}% {status:8s}")
        sys.stdout.flush()
        if not args.wait or status in ("done", "failed", "none"):
            break
        time.sleep(1.0)
    print()
    if error:
        print(f"Lỗi: {error}", file=sys.stderr)
    return 0 if status == "done" else 1


def cmd_recordings_verify(args: argparse.Namespace) -> int:
    """Check every finished recording file against the SHA-256 stored in the database."""
    from server.services.recordings import verify_all

    settings = _settings(args)
    db = _db(settings)
    with db.session() as session:
        problems, checked = verify_all(session, args.meeting)
    for problem in problems:
        print(problem)
    print(f"Đã kiểm tra {checked} tệp, {len(problems)} lỗi.")
    return 1 if problems else 0


def cmd_recordings_purge(args: argparse.Namespace) -> int:
    from server.services.recordings import purge_expired

    settings = _settings(args)
    db = _db(settings)
    with db.session() as session:
        purged = purge_expired(session, settings)
    print(f"Đã xóa bản ghi của {len(purged)} cuộc họp quá hạn lưu trữ.")
    return 0


def cmd_minutes_verify(args: argparse.Namespace) -> int:
    from server.services.minutes import verify_cli

    return verify_cli(_settings(args), args.meeting, args.version)


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
    p.add_argument("what", choices=["units", "ia-pa", *SHIPPED_TREES])
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
    pa.add_argument("--position", help="chức vụ, in cùng tên trong biên bản (ví dụ: Chủ tịch UBND xã)")
    pa.add_argument("--password-stdin", action="store_true")
    data_dir(pa)
    pa.set_defaults(func=cmd_user_add)
    pu = usub.add_parser("unlock", help="mở khóa đăng nhập (xóa bộ đếm đăng nhập sai) của một tài khoản")
    pu.add_argument("username")
    pu.add_argument("--address", help="cũng mở khóa một địa chỉ máy khách (mọi tài khoản từ địa chỉ đó)")
    data_dir(pu)
    pu.set_defaults(func=cmd_user_unlock)

    p = sub.add_parser("worker", help="chạy các việc nền (gỡ băng) với cơ sở dữ liệu và hàng đợi đã cấu hình")
    data_dir(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("bot", help="tham gia cuộc họp như một điểm cầu thật (kiểm tra, tạo tải)")
    p.add_argument("--server", required=True, help="ví dụ http://127.0.0.1:8000")
    p.add_argument("--meeting", required=True, type=int)
    p.add_argument("--username", required=True)
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--play", help="tệp âm thanh phát vào cuộc họp")
    p.add_argument("--video", action="store_true", help="phát thêm hình mẫu")
    p.add_argument("--thumbnail", action="store_true",
                   help="với --video: phát thêm bản hình nhỏ cho bức tường điểm cầu của đơn vị chủ trì")
    p.add_argument("--wall-every", type=float,
                   help="(đơn vị chủ trì) xem bức tường điểm cầu, chuyển trang sau mỗi chừng ấy giây")
    p.add_argument("--duration", type=float, help="số giây ở lại (mặc định: độ dài tệp + 2 s, hoặc 10 s)")
    p.add_argument("--stats-json", help="ghi thống kê nhận được vào tệp JSON")
    p.add_argument(
        "--captions-json", help="bật phụ đề trực tiếp; ghi các phụ đề hoàn chỉnh nhận được vào tệp JSON"
    )
    p.set_defaults(func=cmd_bot)

    p = sub.add_parser("models", help="liệt kê mô hình nhận dạng tiếng nói tìm thấy")
    data_dir(p)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("transcript", help="tiến độ gỡ băng của một cuộc họp")
    p.add_argument("meeting", type=int)
    p.add_argument("--wait", action="store_true", help="chờ đến khi xong, hiện thanh tiến độ")
    data_dir(p)
    p.set_defaults(func=cmd_transcript)

    p = sub.add_parser("recordings", help="bản ghi âm: kiểm tra toàn vẹn, xóa quá hạn")
    rsub = p.add_subparsers(dest="recordings_command", required=True)
    pv = rsub.add_parser("verify", help="so SHA-256 của từng tệp với cơ sở dữ liệu")
    pv.add_argument("--meeting", type=int)
    data_dir(pv)
    pv.set_defaults(func=cmd_recordings_verify)
    pp = rsub.add_parser("purge", help="xóa bản ghi quá GIAOBAN_RECORDING_RETENTION_DAYS ngày")
    data_dir(pp)
    pp.set_defaults(func=cmd_recordings_purge)

    p = sub.add_parser("minutes", help="biên bản")
    msub = p.add_subparsers(dest="minutes_command", required=True)
    pm = msub.add_parser("verify", help="kiểm tra chữ ký và mã băm của biên bản đã niêm phong")
    pm.add_argument("meeting", type=int)
    pm.add_argument("--version", type=int)
    data_dir(pm)
    pm.set_defaults(func=cmd_minutes_verify)

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
