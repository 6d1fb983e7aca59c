// Interface strings of the chair's screens for a province meeting (issue 15 item 4): the roll-call's search
// and status filters, the raised hands' badge. Merged into strings.js's tables; Vietnamese is the reference.

export const ROLL_VI = {
  "roll.search": "Tìm điểm cầu (gõ không dấu cũng được)",
  "room.people_search": "Tìm điểm cầu đang dự (gõ không dấu cũng được)",
  "roll.filters": "Lọc theo trạng thái điểm danh",
  "roll.filter_all": "Tất cả",
  "roll.filter_present_online": "Trực tuyến",
  "roll.filter_present_in_person": "Trực tiếp",
  "roll.filter_absent": "Vắng",
  "roll.filter_not_called": "Chưa điểm danh",
  "roll.shown": "Đang hiện {n}/{total} điểm cầu",
  "roll.none_match": "Không có điểm cầu nào khớp.",
  "room.hands_badge": "{n} điểm cầu xin phát biểu — xem hàng chờ",
};

export const ROLL_EN = {
  "roll.search": "Find a connection point (accents optional)",
  "room.people_search": "Find a connection point present (accents optional)",
  "roll.filters": "Filter by roll-call status",
  "roll.filter_all": "All",
  "roll.filter_present_online": "Online",
  "roll.filter_present_in_person": "In person",
  "roll.filter_absent": "Absent",
  "roll.filter_not_called": "Not called",
  "roll.shown": "Showing {n} of {total} connection points",
  "roll.none_match": "No connection point matches.",
  "room.hands_badge": "{n} connection points asking for the floor — show the queue",
};
