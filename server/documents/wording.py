"""Vietnamese wording shared by both renderers: dates and times as official documents write them, labels.

Decree 30/2020/NĐ-CP, Appendix I: in the place-and-date line, days below 10 and the months 1 and 2 take a
leading zero ("ngày 05 tháng 02 năm 2026", "ngày 15 tháng 3 năm 2026").
"""

from __future__ import annotations

from datetime import date, datetime

from server.documents.model import AttendanceStatus, Attendee, Conclusion, Person, Vote

SECONDS_PER_HOUR = 3600
SECONDS_PER_MINUTE = 60

STATUS_LABELS: dict[AttendanceStatus, str] = {
    AttendanceStatus.PRESENT_ONLINE: "Có mặt (trực tuyến)",
    AttendanceStatus.PRESENT_IN_PERSON: "Có mặt (trực tiếp)",
    AttendanceStatus.ABSENT: "Vắng mặt",
    AttendanceStatus.NOT_CALLED: "Chưa điểm danh",
}


def day_text(d: date) -> str:
    return f"{d.day:02d}"


def month_text(d: date) -> str:
    return f"{d.month:02d}" if d.month < 3 else str(d.month)


def long_date(d: date) -> str:
    """ "ngày 15 tháng 3 năm 2026"."""
    return f"ngày {day_text(d)} tháng {month_text(d)} năm {d.year}"


def short_date(d: date) -> str:
    """ "15/3/2026", "05/02/2026"."""
    return f"{day_text(d)}/{month_text(d)}/{d.year}"


def place_date(place_name: str, d: date) -> str:
    """ "Ia Pa, ngày 15 tháng 3 năm 2026"."""
    return f"{place_name}, {long_date(d)}"


def clock_time(t: datetime) -> str:
    """ "08 giờ 30 phút"."""
    return f"{t.hour:02d} giờ {t.minute:02d} phút"


def time_and_date(t: datetime) -> str:
    """ "08 giờ 30 phút, ngày 15 tháng 3 năm 2026"."""
    return f"{clock_time(t)}, {long_date(t.date())}"


def recording_time(offset_s: float) -> str:
    """Seconds on the meeting clock as "01:02:03"."""
    total = max(0, int(offset_s))
    hours, rest = divmod(total, SECONDS_PER_HOUR)
    minutes, seconds = divmod(rest, SECONDS_PER_MINUTE)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def person_text(person: Person) -> str:
    """ "Ông Nguyễn Văn Hùng - Chủ tịch UBND huyện"."""
    name = f"{person.honorific} {person.name}".strip()
    return f"{name} - {person.position}" if person.position else name


def status_text(attendee: Attendee) -> str:
    label = STATUS_LABELS[attendee.status]
    if attendee.status is AttendanceStatus.ABSENT and attendee.absence_reason:
        return f"{label} (lý do: {attendee.absence_reason})"
    return label


def assignment_text(conclusion: Conclusion) -> str:
    """The task part of a conclusion, "" when it assigns nothing: "Đơn vị thực hiện: ...; thời hạn: ...."."""
    parts: list[str] = []
    if conclusion.assignee_unit:
        parts.append(f"Đơn vị thực hiện: {conclusion.assignee_unit}")
    if conclusion.deadline is not None:
        parts.append(f"thời hạn hoàn thành: trước ngày {short_date(conclusion.deadline)}")
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def vote_text(vote: Vote) -> str:
    """ "Thông qua ...: 10/10 tán thành (100%), 0 không tán thành, 0 không biểu quyết."."""
    total = vote.in_favour + vote.against + vote.abstaining
    share = f" ({round(100 * vote.in_favour / total)}%)" if total else ""
    return (
        f"{vote.subject}: {vote.in_favour}/{total} tán thành{share}, {vote.against} không tán thành, "
        f"{vote.abstaining} không biểu quyết."
    )


def sentence(text: str) -> str:
    """``text`` ending with a full stop (or its own final punctuation)."""
    text = text.strip()
    return text if not text or text[-1] in ".!?:;" else text + "."


def recipient_lines(recipients: tuple[str, ...], archive_line: str) -> tuple[str, ...]:
    """ "Nơi nhận" items as printed: "- X;" each, the archive line ("Lưu: VT.") last with a full stop."""
    items = [r.strip().lstrip("-").strip().rstrip(";.") for r in recipients if r.strip()]
    if not any(item.startswith("Lưu") for item in items):
        items.append(archive_line.rstrip("."))
    items.sort(key=lambda item: item.startswith("Lưu"))  # archive last, others in the given order
    return tuple(f"- {item}{'.' if i == len(items) - 1 else ';'}" for i, item in enumerate(items))
