"""Finding assignments ("giao", "đề nghị", "yêu cầu", "chỉ đạo", "phân công" ...) in meeting transcripts.

The chair's conclusions become tasks: this module proposes them, a person confirms. A suggestion needs a
directive, a unit that receives it and an action; the deadline is optional. The rules, on folded words (so
unaccented transcripts work) but checking accents when the text has them ("giáo dục" is not "giao"):

- Sentences are split on punctuation, and — because Whisper writes little of it — also before a directive
  word that follows five or more words of another sentence.
- A directive word preceded by "đã", "được", "vừa", "theo", "các", "bàn" ... reports or cites an earlier
  directive ("đã giao", "theo đề nghị của") and is not one; so is a sentence with a past-time cue before it
  ("kỳ trước", "tháng trước", "vừa qua") and a question.
- A unit named before the directive word is its subject ("Xã Ia Tul đề nghị huyện hỗ trợ": a request to
  the chair, not an assignment) unless introduced by "đối với", "riêng", "về phía": then it is the receiver.
- Units right after the directive word (joined by ",", "và", "các xã") lead; the first leads, the others
  and any unit named later (e.g. after "phối hợp với") are co-units.
- Without a directive word, a sentence that opens with a unit followed by an imperative ("khẩn trương",
  "chủ động", "tập trung", "có trách nhiệm" ...) is a weaker suggestion.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from server.domain.deadlines import ParsedDeadline, parse_deadline
from server.domain.units import UnitMatcher, UnitMention, UnitName, Words, words_of
from server.domain.vntext import canon, fold

logger = logging.getLogger(__name__)

#: A directive word after at least this many words of running text starts a new sentence.
SOFT_SPLIT_MIN_WORDS = 5

#: With a unit matcher, a directive splits a run only when a unit is named within this many words after it.
SOFT_SPLIT_UNIT_WITHIN_WORDS = 4

#: An action needs at least this many words.
MIN_ACTION_WORDS = 2

CONFIDENCE_DIRECTIVE = 0.6
CONFIDENCE_IMPERATIVE = 0.45
CONFIDENCE_DEADLINE_BONUS = 0.15
CONFIDENCE_ACTION_VERB_BONUS = 0.1
CONFIDENCE_OPENING_BONUS = 0.1

#: Directive words: folded form → accented form (the text must use the latter when it has accents).
DIRECTIVES: dict[tuple[str, ...], str] = {
    ("de", "nghi"): "đề nghị",
    ("yeu", "cau"): "yêu cầu",
    ("giao",): "giao",
    ("chi", "dao"): "chỉ đạo",
    ("phan", "cong"): "phân công",
    ("cu",): "cử",
    ("dieu", "dong"): "điều động",
    ("nho",): "nhờ",
}

#: Words right after "giao" that make it another word (giao thông, giao dịch, bàn giao ...).
_GIAO_NOT_ASSIGN = frozenset(
    {"thong", "dich", "luu", "ban", "nhan", "tiep", "khoan", "dat", "duc", "hang", "thua", "trach", "thoa",
     "ket", "lo", "cat", "hoa", "vien", "an"}
)  # fmt: skip

#: Words right before a directive word that make it a report or a citation.
_NOT_NEW = frozenset(
    {"da", "duoc", "vua", "tung", "theo", "cac", "nhung", "ban", "nhan", "kien", "dang", "moi", "tai", "cua",
     "voi", "dung", "dap", "ung", "bi", "chua", "khong"}
)  # fmt: skip

#: Cues that the sentence tells of the past.
_PAST_CUES: tuple[tuple[str, ...], ...] = (
    ("ky", "truoc"), ("thang", "truoc"), ("tuan", "truoc"), ("nam", "truoc"), ("nam", "ngoai"),
    ("truoc", "day"), ("vua", "qua"), ("hom", "truoc"), ("lan", "truoc"), ("hom", "qua"), ("da", "giao"),
    ("da", "duoc"),
)  # fmt: skip

#: Words that end a question.
_QUESTION_END = frozenset({"khong", "chua", "a", "nhi", "sao", "gi", "dau", "nao"})
_POLITE_ENDINGS = frozenset({"ạ"})
_QUESTION_CUES: tuple[tuple[str, ...], ...] = (
    ("bao", "gio"), ("the", "nao"), ("tai", "sao"), ("vi", "sao"), ("lam", "sao"), ("o", "dau"),
    ("phai", "khong"), ("duoc", "khong"), ("co", "kip", "khong"),
)  # fmt: skip

#: "đối với X", "riêng X", "về phía X": X receives what follows.
_TOPIC_INTRO: tuple[tuple[str, ...], ...] = (("doi", "voi"), ("rieng",), ("ve", "phia"), ("con",), ("ve",))

#: Words between units of one list ("UBND các xã Chư Mố, Ia Tul và Pờ Tó").
_LIST_GLUE = frozenset(
    {"va", "cac", "xa", "ubnd", "phong", "uy", "ban", "nhan", "dan", "cung", "hai", "ba", "cho"}
)

#: People's titles that may stand between a directive and the unit ("các đồng chí Chủ tịch UBND xã ...").
_TITLE_WORDS = frozenset(
    {"dong", "chi", "chu", "tich", "pho", "truong", "lanh", "dao", "giam", "doc", "thu", "bi", "can", "bo"}
)

#: At most this many glue or title words between a directive and its first unit.
MAX_WORDS_BEFORE_LEAD = 6

#: Imperative openers after a unit when there is no directive word.
_IMPERATIVES: tuple[tuple[str, ...], ...] = (
    ("khan", "truong"), ("chu", "dong"), ("tap", "trung"), ("co", "trach", "nhiem"), ("chu", "tri"),
    ("nghiem", "tuc"), ("khan", "cap"), ("quyet", "liet"), ("phai",), ("can",), ("tiep", "tuc"),
)  # fmt: skip

#: Verbs that usually open an action.
_ACTION_VERBS = frozenset(
    {"hoan", "ra", "bao", "trien", "kiem", "to", "xay", "tham", "chuan", "khac", "don", "thuc", "tong", "lap",
     "huong", "chu", "phoi", "tap", "khan", "giai", "xu", "cung", "tuyen", "van", "theo", "nop", "gui", "dam",
     "rasoat", "ho", "tiep", "thanh", "dieu", "cap", "phan", "thu", "quan", "de", "giam", "tang", "bo", "sua"}
)  # fmt: skip

_HARD_BREAK_RE = re.compile(r"[!?;\n]+|\.(?=\s|$)|:(?=\s*\n)")


@dataclass(frozen=True)
class AssignmentSuggestion:
    """A proposed task: who leads, who helps, what to do, by when, and where in the text it was said."""

    lead_unit_code: str
    co_unit_codes: tuple[str, ...]
    description: str
    deadline: ParsedDeadline | None
    sentence: str
    span: tuple[int, int]
    confidence: float


def _at(words: Sequence[str], i: int, phrase: Sequence[str]) -> bool:
    return tuple(words[i : i + len(phrase)]) == tuple(phrase)


def _ends_with(words: Sequence[str], i: int, phrase: Sequence[str]) -> bool:
    """True when ``phrase`` ends right before word ``i``."""
    start = i - len(phrase)
    return start >= 0 and tuple(words[start:i]) == tuple(phrase)


def _has_accents(original: str) -> bool:
    return fold(original) != original.lower()


def _directive_at(w: Words, i: int, unit_starts: frozenset[int] = frozenset()) -> int:
    """Number of words of a directive starting at word ``i`` (0 when there is none).

    ``unit_starts`` are the word indices where unit names begin: "giao Ban Chỉ huy Quân sự" is a directive
    although "giao ban" (a briefing) is not.
    """
    for phrase, accented in DIRECTIVES.items():
        if not _at(w.folded, i, phrase):
            continue
        start = w.spans[i][0]
        end = w.spans[i + len(phrase) - 1][1]
        original = w.text[start:end]
        if _has_accents(original) and canon(" ".join(original.split())).lower() != accented:
            continue
        if phrase == ("giao",):
            nxt = w.folded[i + 1] if i + 1 < len(w.folded) else ""
            if nxt in _GIAO_NOT_ASSIGN and i + 1 not in unit_starts:
                continue
        if phrase in (("cu",), ("nho",)) and not (_has_accents(original) or len(w.folded) > i + 1):
            continue
        return len(phrase)
    return 0


def _unit_follows(i: int, mentions: Sequence[UnitMention]) -> bool:
    """A unit is named within the few words after word ``i`` (a directive's receiver)."""
    return any(i < m.first_word <= i + SOFT_SPLIT_UNIT_WITHIN_WORDS for m in mentions)


def split_sentences(text: str, matcher: UnitMatcher | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``.

    Splits on punctuation, then — for Whisper's unpunctuated runs — before a directive word that follows
    five or more words; with a ``matcher``, only before a directive whose receiving unit follows it
    ("... báo cáo trước 20/4 giao phòng Văn hóa ..." splits, "đề nghị xã A tập trung chỉ đạo ..." does not).
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _HARD_BREAK_RE.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        w = words_of(text[s:e])
        if not w.folded:
            continue
        start_word = 0
        cut_from = w.spans[0][0]
        mentions = matcher.find(w) if matcher is not None else None
        unit_starts = frozenset(m.first_word for m in mentions or ())
        for i in range(len(w.folded)):
            count = i - start_word
            if count < SOFT_SPLIT_MIN_WORDS or not _directive_at(w, i, unit_starts):
                continue
            if mentions is not None and not _unit_follows(i, mentions):
                continue
            if w.folded[i - 1] in _NOT_NEW:
                continue
            if count <= 10 and any(_at(w.folded, start_word, p) for p in _TOPIC_INTRO):
                continue  # "Đối với xã Ia Tul đề nghị ...": one sentence
            cut = w.spans[i][0]
            out.append((s + cut_from, s + cut))
            start_word, cut_from = i, cut
        out.append((s + cut_from, e))
    return [(a, b) for a, b in out if text[a:b].strip()]


def _is_question(w: Words, sentence: str) -> bool:
    if sentence.rstrip().endswith("?"):
        return True
    if w.folded and w.folded[-1] in _QUESTION_END:
        last = canon(w.text[w.spans[-1][0] : w.spans[-1][1]]).lower()
        # "ạ" closes a polite statement; "à" (or an unaccented "a") asks.
        return last not in _POLITE_ENDINGS
    return any(_at(w.folded, i, cue) for i in range(len(w.folded)) for cue in _QUESTION_CUES)


def _told_of_past(w: Words, before: int) -> bool:
    """A past-time cue in the clause that ends at word ``before`` (a comma closes a context clause)."""
    clause_start = 0
    for i in range(1, before + 1):
        if i < len(w.spans) and "," in w.text[w.spans[i - 1][1] : w.spans[i][0]]:
            clause_start = i
    return any(_at(w.folded, i, cue) for i in range(clause_start, before) for cue in _PAST_CUES)


def _lead_group(mentions: list[UnitMention], after_word: int, w: Words) -> list[UnitMention]:
    """Units named right after word ``after_word`` and joined by list glue ("xã A, B và C")."""
    group: list[UnitMention] = []
    cursor = after_word
    for mention in mentions:
        if mention.first_word < after_word:
            continue
        between = w.folded[cursor : mention.first_word]
        if not group:
            if len(between) > MAX_WORDS_BEFORE_LEAD or any(
                word not in _LIST_GLUE and word not in _TITLE_WORDS for word in between
            ):
                break
        elif any(word not in _LIST_GLUE for word in between):
            break
        group.append(mention)
        cursor = mention.end_word
    return group


def _clean_action(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" ,:;.-–—")
    return text


#: Folded words left dangling at the end of an action once its deadline is cut off ("hoàn thành trước").
_DANGLING_MARKERS = frozenset(
    {"truoc", "trong", "den", "het", "vao", "cham", "nhat", "han", "chot", "toi", "da", "la"}
)


def _describe(sentence: str, action_start: int, deadline: ParsedDeadline | None, offset: int) -> str:
    """The action: the sentence from ``action_start``, without a deadline that ends it."""
    action = sentence[action_start:]
    if deadline is not None:
        d_start = deadline.span[0] - offset
        d_end = deadline.span[1] - offset
        rest = sentence[d_end:]
        if d_start >= action_start and not re.search(r"\w", rest):
            action = sentence[action_start:d_start]
            words = action.split()
            while words and fold(words[-1]).strip(" ,;:") in _DANGLING_MARKERS:
                words.pop()
            action = " ".join(words)
    return _clean_action(action)


def _analyse(
    text: str, span: tuple[int, int], matcher: UnitMatcher, meeting_date: date
) -> AssignmentSuggestion | None:
    sentence = text[span[0] : span[1]]
    w = words_of(sentence)
    if not w.folded or _is_question(w, sentence):
        return None
    mentions = matcher.find(w)
    if not mentions:
        return None
    # The first directive word that is not a report or citation.
    directive_at = -1
    directive_len = 0
    unit_starts = frozenset(m.first_word for m in mentions)
    for i in range(len(w.folded)):
        size = _directive_at(w, i, unit_starts)
        if not size:
            continue
        prev = w.folded[i - 1] if i else ""
        prev2 = w.folded[i - 2] if i > 1 else ""
        if prev in _NOT_NEW or prev2 in ("da", "duoc"):
            return None
        directive_at, directive_len = i, size
        break
    if _told_of_past(w, directive_at if directive_at >= 0 else mentions[0].first_word):
        return None

    lead: list[UnitMention] = []
    action_start_word = -1
    confidence = CONFIDENCE_DIRECTIVE
    if directive_at >= 0:
        subject = [m for m in mentions if m.end_word <= directive_at]
        directive_words = tuple(w.folded[directive_at : directive_at + directive_len])
        if subject and directive_words in (("chi", "dao"), ("phan", "cong")):
            # "Công an huyện chỉ đạo lực lượng ...": the chair tells the named unit to direct its people.
            lead = _lead_group(mentions, subject[0].first_word, w) or subject[:1]
            action_start_word = directive_at
            confidence = CONFIDENCE_IMPERATIVE
        elif subject:
            first = subject[0]
            introduced = any(
                _ends_with(w.folded, first.first_word - k, p) for p in _TOPIC_INTRO for k in range(4)
            )
            if not introduced:
                return None
            lead = subject
            action_start_word = directive_at + directive_len
            after = _lead_group(mentions, action_start_word, w)
            if after:
                action_start_word = after[-1].end_word
        else:
            lead = _lead_group(mentions, directive_at + directive_len, w)
            if not lead:
                return None
            action_start_word = lead[-1].end_word
        if directive_at <= 3:
            confidence += CONFIDENCE_OPENING_BONUS
    else:
        first = mentions[0]
        if first.first_word > 4:
            return None
        lead = _lead_group(mentions, first.first_word, w)
        follows = lead[-1].end_word
        if not any(_at(w.folded, follows, p) for p in _IMPERATIVES):
            return None
        action_start_word = follows
        confidence = CONFIDENCE_IMPERATIVE

    if action_start_word >= len(w.folded):
        return None
    while action_start_word < len(w.folded) and w.folded[action_start_word] in ("cho", "thi", "la"):
        action_start_word += 1
    if action_start_word >= len(w.folded):
        return None
    deadline = parse_deadline(sentence, meeting_date)
    if deadline is not None:
        deadline = ParsedDeadline(
            due=deadline.due,
            text=deadline.text,
            span=(deadline.span[0] + span[0], deadline.span[1] + span[0]),
        )
        confidence += CONFIDENCE_DEADLINE_BONUS
    action_char = w.spans[action_start_word][0]
    description = _describe(sentence, action_char, deadline, span[0])
    if len(description.split()) < MIN_ACTION_WORDS:
        return None
    if fold(description).split()[0] in _ACTION_VERBS:
        confidence += CONFIDENCE_ACTION_VERB_BONUS
    lead_code = lead[0].code
    co: list[str] = []
    for mention in [*lead[1:], *mentions]:
        if mention.code != lead_code and mention.code not in co:
            co.append(mention.code)
    return AssignmentSuggestion(
        lead_unit_code=lead_code,
        co_unit_codes=tuple(co),
        description=description,
        deadline=deadline,
        sentence=_clean_action(sentence),
        span=span,
        confidence=round(min(confidence, 1.0), 2),
    )


def suggest_assignments(
    text: str, units: Sequence[UnitName], meeting_date: date
) -> list[AssignmentSuggestion]:
    """Assignment suggestions found in ``text`` (a transcript or minutes), in order of appearance."""
    matcher = UnitMatcher(units)
    suggestions: list[AssignmentSuggestion] = []
    for span in split_sentences(text, matcher):
        suggestion = _analyse(text, span, matcher, meeting_date)
        if suggestion is not None:
            suggestions.append(suggestion)
    logger.debug("found %d assignment suggestions in %d characters", len(suggestions), len(text))
    return suggestions
