// Text folded for matching what an official types: lower case, without Vietnamese accents, "đ" as "d", so
// "chu mo" finds "Chư Mố" and "dak doa" finds "Đăk Đoa". Pure (no DOM): the views and node's unit tests share it.

/** Lower case without Vietnamese accents ("Chư Mố" → "chu mo"). */
export function fold(text) {
  return String(text ?? "")
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[đĐ]/g, "d")
    .toLowerCase();
}
