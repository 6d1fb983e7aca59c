// Interface strings of the record page's agenda beside the player (issue 20 item 3): each agenda item at its start
// in the recording. Merged into strings.js's tables; Vietnamese is the reference.

export const RECORD_VI = {
  "record.agenda": "Chương trình họp",
  "record.agenda_opening": "Khai mạc",
  "record.agenda_go": "Xem từ {at}: {title}",
  "record.agenda_unplayed": "không có trong bản ghi",
};

export const RECORD_EN = {
  "record.agenda": "Agenda",
  "record.agenda_opening": "Opening",
  "record.agenda_go": "Play from {at}: {title}",
  "record.agenda_unplayed": "not in the recording",
};
