"""The content of the two meeting documents, independent of the database and of any file format.

``MinutesDoc`` is the minutes of a meeting (Decree 30/2020/NĐ-CP, Appendix III, form 1.9, "Biên bản");
``NoticeDoc`` is the conclusion notice (form 1.4, "Thông báo" of the chair's conclusions). Services build
them from the database; ``docx_render``/``pdf_render`` lay them out; ``seal`` fingerprints and signs them.

All values are frozen dataclasses holding plain text in normal Vietnamese spelling: the renderers apply the
form's capitalisation (issuing body and signer titles in capitals) and NFC-normalise every string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "AgendaItem",
    "AttendanceStatus",
    "Attendee",
    "Conclusion",
    "Contribution",
    "DocumentNumber",
    "IssuingBody",
    "MinutesDoc",
    "NoticeDoc",
    "Person",
    "SignatureBlock",
    "Vote",
]


@dataclass(frozen=True)
class IssuingBody:
    """The body that issues the document, top left of the heading.

    ``parent`` is the directly managing body (tên cơ quan, tổ chức chủ quản), empty when there is none (an
    People's Committee issues in its own name). ``name`` is the issuing body itself; a line break in it
    chooses where it wraps ("Ủy ban nhân dân\\nhuyện Ia Pa").
    """

    name: str
    parent: str = ""


@dataclass(frozen=True)
class DocumentNumber:
    """Number and code ("Số: 12/BB-UBND"). ``number`` is None while the document has no number yet."""

    code: str
    number: int | None = None

    def text(self) -> str:
        """The line as printed: "Số: 12/BB-UBND", "Số: 01/BB-UBND" (numbers below 10 take a leading zero,
        Decree 30/2020, Appendix I), or "Số:      /BB-UBND" before numbering."""
        if self.number is None:
            return f"Số:\u2002\u2002\u2002\u2002\u2002/{self.code}"
        return f"Số: {self.number:02d}/{self.code}"


@dataclass(frozen=True)
class Person:
    """A named official: ``name`` as it appears under a signature, ``position`` e.g. "Chủ tịch UBND huyện"."""

    name: str
    position: str = ""
    honorific: str = ""  # "Ông" / "Bà" / "Đồng chí"; printed before the name in the body, not in signatures


class AttendanceStatus(StrEnum):
    """Roll-call status of a connection point (điểm cầu)."""

    PRESENT_ONLINE = "present_online"
    PRESENT_IN_PERSON = "present_in_person"
    ABSENT = "absent"
    NOT_CALLED = "not_called"


@dataclass(frozen=True)
class Attendee:
    """One unit (usually one connection point) on the attendance list."""

    unit_name: str
    status: AttendanceStatus
    representatives: tuple[Person, ...] = ()
    absence_reason: str = ""  # only meaningful with AttendanceStatus.ABSENT


@dataclass(frozen=True)
class Contribution:
    """What one speaker said on an agenda item.

    ``recording_offset_s`` is where it can be heard: seconds on the meeting clock (from the start of the
    recording), when known.
    """

    unit_name: str
    text: str
    speaker: Person | None = None
    recording_offset_s: float | None = None


@dataclass(frozen=True)
class AgendaItem:
    """One item of the meeting's content, in the order it was taken."""

    title: str
    content: str = ""  # what was presented (summary), may be empty
    contributions: tuple[Contribution, ...] = ()


@dataclass(frozen=True)
class Conclusion:
    """One numbered conclusion of the chair; with a unit and a deadline it becomes a follow-up task."""

    number: int
    text: str
    assignee_unit: str = ""
    deadline: date | None = None


@dataclass(frozen=True)
class Vote:
    """A vote result: counts of delegates for, against and not voting."""

    subject: str
    in_favour: int
    against: int
    abstaining: int = 0


@dataclass(frozen=True)
class SignatureBlock:
    """A signature column: ``title_lines`` in capitals (e.g. ("TL. CHỦ TỊCH", "CHÁNH VĂN PHÒNG")), an optional
    italic ``note`` under it (e.g. "(Đã ký)"), and the signer's name at the bottom."""

    title_lines: tuple[str, ...]
    name: str
    note: str = ""


@dataclass(frozen=True)
class MinutesDoc:
    """Minutes of a meeting, form 1.9 ("Biên bản")."""

    issuing_body: IssuingBody
    number: DocumentNumber  # code e.g. "BB-UBND"
    place_name: str  # the place in "Ia Pa, ngày 15 tháng 3 năm 2026"
    issued_on: date
    title: str  # trích yếu under "BIÊN BẢN", e.g. "Cuộc họp trực tuyến ... về ..."
    started_at: datetime
    ended_at: datetime
    location: str  # main venue, e.g. "Hội trường UBND huyện Ia Pa (điểm cầu chính)"
    online: bool
    connection_points: tuple[str, ...]
    chair: Person
    clerk: Person
    attendees: tuple[Attendee, ...]
    agenda: tuple[AgendaItem, ...]
    conclusions: tuple[Conclusion, ...] = ()
    votes: tuple[Vote, ...] = ()
    other_attendees: tuple[str, ...] = ()  # invited people not tied to a connection point, free text lines
    closing_note: str = (
        ""  # e.g. "Biên bản đã được đọc lại cho các thành viên dự họp cùng nghe và thống nhất."
    )
    recipients: tuple[str, ...] = ()  # "Nơi nhận"; "Lưu: VT, hồ sơ." is appended when missing
    clerk_signature_note: str = ""
    chair_signature_note: str = ""

    def signature_blocks(self) -> tuple[SignatureBlock, SignatureBlock]:
        """The two signature columns of form 1.9: THƯ KÝ (left) and CHỦ TỌA (right)."""
        return (
            SignatureBlock(("THƯ KÝ",), self.clerk.name, self.clerk_signature_note),
            SignatureBlock(("CHỦ TỌA",), self.chair.name, self.chair_signature_note),
        )


@dataclass(frozen=True)
class NoticeDoc:
    """Conclusion notice, form 1.4 ("Thông báo kết luận").

    The title reads "THÔNG BÁO" then "Kết luận của {conclusion_by} tại cuộc họp {meeting_subject}".
    ``due_on`` is the date the notice is due (5 working days after the meeting, computed by the caller); it is
    not printed, it tells whether the notice was issued on time.
    """

    issuing_body: IssuingBody
    number: DocumentNumber  # code e.g. "TB-UBND"
    place_name: str
    issued_on: date
    conclusion_by: str  # e.g. "Chủ tịch UBND huyện Nguyễn Văn Hùng"
    meeting_subject: str  # e.g. "trực tuyến với UBND các xã về công tác phòng, chống hạn"
    body: tuple[str, ...]  # paragraphs before the conclusions
    conclusions: tuple[Conclusion, ...]
    signer: SignatureBlock
    due_on: date
    closing: str = (
        ""  # paragraph after the conclusions, e.g. "... thông báo để các cơ quan, đơn vị biết, thực hiện./."
    )
    recipients: tuple[str, ...] = field(default=())  # "Lưu: VT." is appended when missing

    @property
    def summary(self) -> str:
        """The summary line (trích yếu) under "THÔNG BÁO"."""
        return f"Kết luận của {self.conclusion_by} tại cuộc họp {self.meeting_subject}"

    @property
    def is_late(self) -> bool:
        """True when the notice is issued after its due date."""
        return self.issued_on > self.due_on
