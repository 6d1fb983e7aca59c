"""A realistic meeting for the document tests: Ia Pa district meets its nine communes online."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from server.documents.model import (
    AgendaItem,
    AttendanceStatus,
    Attendee,
    Conclusion,
    Contribution,
    DocumentNumber,
    IssuingBody,
    MinutesDoc,
    NoticeDoc,
    Person,
    SignatureBlock,
    Vote,
)

ICT = timezone(timedelta(hours=7), "ICT")  # Asia/Ho_Chi_Minh, no DST

COMMUNES = ("Chư Mố", "Chư Răng", "Ia Broăi", "Ia Kdăm", "Ia Mrơn", "Ia Trốk", "Ia Tul", "Kim Tân", "Pờ Tó")

CHAIR = Person("Nguyễn Văn Hùng", "Chủ tịch UBND huyện", "Ông")
CLERK = Person("Rơ Châm Thị Hạnh", "Chuyên viên Văn phòng HĐND và UBND huyện", "Bà")
ISSUER = IssuingBody("Ủy ban nhân dân\nhuyện Ia Pa")


def _attendees() -> tuple[Attendee, ...]:
    representatives = {
        "Chư Mố": Person("Ksor Y Hiếu", "Chủ tịch UBND xã", "Ông"),
        "Chư Răng": Person("Trần Thị Thủy", "Phó Chủ tịch UBND xã", "Bà"),
        "Ia Broăi": Person("Rơ Mah Blưk", "Chủ tịch UBND xã", "Ông"),
        "Ia Kdăm": Person("Lê Đức Thắng", "Chủ tịch UBND xã", "Ông"),
        "Ia Mrơn": Person("Nguyễn Thị Ngọc Ánh", "Phó Chủ tịch UBND xã", "Bà"),
        "Ia Trốk": Person("Siu Đôk", "Chủ tịch UBND xã", "Ông"),
        "Kim Tân": Person("Phạm Quốc Việt", "Chủ tịch UBND xã", "Ông"),
        "Pờ Tó": Person("Đinh Văn Lượng", "Phó Chủ tịch UBND xã", "Ông"),
    }
    attendees: list[Attendee] = []
    for commune in COMMUNES:
        unit = f"UBND xã {commune}"
        if commune == "Ia Tul":
            attendees.append(
                Attendee(unit, AttendanceStatus.ABSENT, absence_reason="mất kết nối đường truyền")
            )
        elif commune == "Kim Tân":
            attendees.append(Attendee(unit, AttendanceStatus.PRESENT_IN_PERSON, (representatives[commune],)))
        elif commune == "Pờ Tó":
            attendees.append(Attendee(unit, AttendanceStatus.NOT_CALLED, (representatives[commune],)))
        else:
            attendees.append(Attendee(unit, AttendanceStatus.PRESENT_ONLINE, (representatives[commune],)))
    return tuple(attendees)


CONCLUSIONS = (
    Conclusion(
        1,
        "Giao Phòng Nông nghiệp và Môi trường chủ trì, phối hợp với UBND các xã rà soát diện tích cây trồng "
        "bị ảnh hưởng do hạn hán, đề xuất phương án hỗ trợ",
        "Phòng Nông nghiệp và Môi trường",
        date(2026, 3, 25),
    ),
    Conclusion(
        2,
        "UBND xã Ia Broăi khẩn trương nạo vét kênh mương nội đồng, bảo đảm nước tưới cho vụ Đông Xuân",
        "UBND xã Ia Broăi",
        date(2026, 4, 5),
    ),
    Conclusion(
        3,
        "UBND xã Ia Tul báo cáo bằng văn bản nguyên nhân không tham dự cuộc họp; Trung tâm Văn hóa, "
        "Thông tin và Thể thao kiểm tra đường truyền điểm cầu xã Ia Tul",
        "UBND xã Ia Tul",
        date(2026, 3, 18),
    ),
    Conclusion(4, "Các xã tiếp tục tuyên truyền người dân sử dụng nước tiết kiệm, hiệu quả"),
)


def ia_pa_minutes() -> MinutesDoc:
    started = datetime(2026, 3, 16, 8, 0, tzinfo=ICT)
    return MinutesDoc(
        issuing_body=ISSUER,
        number=DocumentNumber("BB-UBND", 12),
        place_name="Ia Pa",
        issued_on=date(2026, 3, 16),
        title="Cuộc họp trực tuyến về công tác phòng, chống hạn hán vụ Đông Xuân 2025 - 2026",
        started_at=started,
        ended_at=started + timedelta(hours=2, minutes=45),
        location="Hội trường UBND huyện Ia Pa (điểm cầu chính)",
        online=True,
        connection_points=tuple(f"xã {c}" for c in COMMUNES),
        chair=CHAIR,
        clerk=CLERK,
        attendees=_attendees(),
        other_attendees=(
            "Lãnh đạo Phòng Nông nghiệp và Môi trường, Phòng Tài chính - Kế hoạch huyện",
            "Đại diện Trạm Khuyến nông huyện",
        ),
        agenda=(
            AgendaItem(
                "Báo cáo tình hình hạn hán trên địa bàn huyện",
                "Lãnh đạo Phòng Nông nghiệp và Môi trường báo cáo: toàn huyện có khoảng 1.250 ha lúa "
                "và hoa màu có nguy cơ thiếu nước, tập trung ở các xã Ia Broăi, Ia Trốk và Chư Mố",
                (
                    Contribution(
                        "UBND xã Ia Broăi",
                        "Xã đã huy động người dân nạo vét 3,5 km kênh mương nhưng còn thiếu kinh phí "
                        "thuê máy bơm; đề nghị huyện hỗ trợ 02 máy bơm dã chiến",
                        Person("Rơ Mah Blưk", "Chủ tịch UBND xã", "Ông"),
                        754.0,
                    ),
                    Contribution(
                        "UBND xã Ia Trốk",
                        "Nguồn nước hồ chứa chỉ còn khoảng 40% dung tích thiết kế; "
                        "đề nghị điều tiết nước luân phiên",
                        Person("Siu Đôk", "Chủ tịch UBND xã", "Ông"),
                        1322.5,
                    ),
                ),
            ),
            AgendaItem(
                "Thảo luận phương án hỗ trợ người dân",
                contributions=(
                    Contribution(
                        "Phòng Tài chính - Kế hoạch",
                        "Có thể bố trí từ nguồn dự phòng ngân sách huyện năm 2026 sau khi có số liệu rà soát",
                        recording_offset_s=3905.0,
                    ),
                ),
            ),
        ),
        votes=(Vote("Thống nhất phương án điều tiết nước luân phiên", 8, 0, 0),),
        conclusions=CONCLUSIONS,
        closing_note="Biên bản đã được đọc lại cho các thành viên dự họp cùng nghe và thống nhất",
        recipients=("Thường trực Huyện ủy (b/c)", "Thường trực HĐND huyện (b/c)", "Các thành viên dự họp"),
    )


def ia_pa_notice() -> NoticeDoc:
    return NoticeDoc(
        issuing_body=ISSUER,
        number=DocumentNumber("TB-UBND", 45),
        place_name="Ia Pa",
        issued_on=date(2026, 3, 18),
        conclusion_by="Chủ tịch UBND huyện Nguyễn Văn Hùng",
        meeting_subject=(
            "trực tuyến với UBND các xã về công tác phòng, chống hạn hán vụ Đông Xuân 2025 - 2026"
        ),
        body=(
            "Ngày 16/3/2026, đồng chí Nguyễn Văn Hùng - Chủ tịch UBND huyện chủ trì cuộc họp trực tuyến với "
            "UBND 09 xã về công tác phòng, chống hạn hán vụ Đông Xuân 2025 - 2026. Tham dự có lãnh đạo các "
            "phòng, ban, đơn vị liên quan của huyện; tại các điểm cầu xã có lãnh đạo UBND xã.",
            "Sau khi nghe báo cáo và ý kiến của các đại biểu dự họp, Chủ tịch UBND huyện kết luận như sau:",
        ),
        conclusions=CONCLUSIONS,
        closing="Văn phòng HĐND và UBND huyện thông báo để các cơ quan, đơn vị biết, thực hiện./.",
        signer=SignatureBlock(("TL. Chủ tịch", "Chánh Văn phòng"), "Võ Thị Lan Hương"),
        due_on=date(2026, 3, 23),
        recipients=(
            "Thường trực Huyện ủy (b/c)",
            "Chủ tịch, các PCT UBND huyện",
            "Các phòng, ban, đơn vị thuộc huyện",
            "UBND các xã",
        ),
    )


@pytest.fixture
def minutes() -> MinutesDoc:
    return ia_pa_minutes()


@pytest.fixture
def notice() -> NoticeDoc:
    return ia_pa_notice()
