"""Rule-based entities in resident messages: place parts, mobile numbers, times.

No Rasa import: the Rasa component (``nlu.components``) and the tests call
``extract_entities`` directly. Values are normalised — building "3号楼", unit "2单元",
room "502", phone digits only — while ``start``/``end`` point into the original text.
With the grid table's lexicon (minsheng.place_lexicon) a known estate or alias is the
``xiaoqu`` (value: the estate as the grid table writes it) and a landmark or road the grid
table lists is a ``landmark``; the patterns cover the names it does not know.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from minsheng.place_lexicon import ALIAS, BUILDING, ESTATE, LANDMARK, PlaceLexicon
from minsheng.places import cn_to_int, normalize_building, parse_place

_CN = "零〇一二两三四五六七八九十百"
_NUM = rf"[0-9{_CN}]+"


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int

    def as_dict(self) -> dict:
        return {"entity": self.entity, "value": self.value, "start": self.start, "end": self.end}


# --- mobile numbers ------------------------------------------------------------------
RE_PHONE = re.compile(r"(?<![0-9])(?:\+?86[\s-]?)?(1[3-9][0-9](?:[\s-]?[0-9]){8})(?![0-9])")


def find_phones(text: str) -> list[Entity]:
    return [
        Entity("phone", re.sub(r"\D", "", m.group(1)), m.start(1), m.end(1))
        for m in RE_PHONE.finditer(text)
    ]


# --- place parts ---------------------------------------------------------------------
# A bare "3楼" is a floor, not a building, so only 号楼/栋/幢/座/号院 count here.
RE_BUILDING = re.compile(rf"(?:{_NUM}|[A-Za-z][0-9]*)\s*(?:号楼|号栋|栋|幢|座|号院)")
RE_UNIT = re.compile(rf"({_NUM})\s*单元")
RE_ROOM = re.compile(
    rf"({_NUM})\s*(?:室|号房)|(?<=单元)\s*([0-9]{{3,4}})(?![0-9])"
    rf"|(?<![0-9])[0-9]{{1,2}}-[0-9]{{1,2}}-([0-9]{{3,4}})(?![0-9])"
)


_RE_XIAOQU_LEAD = re.compile(r"^(?:我是|我们是|俺是|我住|我家|家住|地址是|住址是|地址|住址|位于|是|的)+")
_NOT_XIAOQU = {"小区", "社区", "花园", "公园", "家园"}


def clean_xiaoqu(name: str) -> str | None:
    """Trim what the place parser leaves around an estate name ('星期三下午小区' → None)."""
    name = re.sub(r"(小区)里$", r"\1", name)
    name = _RE_XIAOQU_LEAD.sub("", name)
    leading_time = RE_TIME.match(name)
    if leading_time:
        name = name[leading_time.end():]
    return None if name in _NOT_XIAOQU or len(name) < 2 else name


_LEXICON_ENTITY = {ESTATE: "xiaoqu", ALIAS: "xiaoqu", LANDMARK: "landmark", BUILDING: "building"}


def find_known_places(text: str, lexicon: PlaceLexicon | None) -> list[Entity]:
    """Names from the grid table; one xiaoqu (the first named), every landmark."""
    found: list[Entity] = []
    for hit in lexicon.find(text) if lexicon else []:
        entity = _LEXICON_ENTITY[hit.place.kind]
        if entity == "landmark" or entity not in {e.entity for e in found}:
            found.append(Entity(entity, hit.place.value, hit.start, hit.end))
    return found


def find_place_parts(text: str, lexicon: PlaceLexicon | None = None) -> list[Entity]:
    found = find_known_places(text, lexicon)
    known = {e.entity for e in found}
    xiaoqu = parse_place(text).xiaoqu if "xiaoqu" not in known else None
    xiaoqu = clean_xiaoqu(xiaoqu) if xiaoqu else None
    if xiaoqu:
        at = text.find(xiaoqu)
        if at >= 0:
            found.append(Entity("xiaoqu", xiaoqu, at, at + len(xiaoqu)))
    for m in (RE_BUILDING.finditer(text) if "building" not in known else ()):
        value = normalize_building(m.group(0))
        if value:
            found.append(Entity("building", value, m.start(), m.end()))
    for m in RE_UNIT.finditer(text):
        number = cn_to_int(m.group(1))
        if number is not None:
            found.append(Entity("unit", f"{number}单元", m.start(), m.end()))
    for m in RE_ROOM.finditer(text):
        group = next(i for i in (1, 2, 3) if m.group(i))
        number = cn_to_int(m.group(group))
        end = m.end() if group == 1 else m.end(group)  # "502室" keeps its 室
        if number is not None:
            found.append(Entity("room", str(number), m.start(group), end))
    return found


# --- times ---------------------------------------------------------------------------
_WEEKDAY = "[一二三四五六日天]"
_DAY = (
    rf"大前天|前天|昨天|昨日|今天|今日|明天|后天|昨晚|今晚|今早|明早|昨夜|每天|每日|每晚|天天"
    rf"|每周{_WEEKDAY}?|每个?星期{_WEEKDAY}?|每逢周末|上周{_WEEKDAY}?|这周{_WEEKDAY}?|本周{_WEEKDAY}?"
    rf"|周{_WEEKDAY}|周末|星期{_WEEKDAY}|礼拜{_WEEKDAY}|上个月|这个月|本月|上月|节假日|工作日"
    rf"|最近几天|最近|近期|近日|这几天|这两天|前几天|前两天|前段时间|这段时间"
    rf"|[0-9]{{1,2}}月[0-9]{{1,2}}[日号]|[一二三四五六七八九十]{{1,2}}月[一二三四五六七八九十]{{1,3}}[日号]"
)
_PERIOD = "凌晨|清晨|早上|早晨|一早|上午|中午|午后|下午|傍晚|晚上|夜里|夜间|半夜|深夜|午夜|白天|晚间|夜晚"
_CLOCK_DIGITS = r"[0-9]{1,2}\s*(?:点|时)(?:半|[0-9]{1,2}分|一刻)?(?:左右|多)?|[0-9]{1,2}:[0-9]{2}"
_CLOCK_ANY = r"(?:[0-9]{1,2}|[一二两三四五六七八九十]{1,3})\s*(?:点|时)(?:半|[0-9一二三四五六七八九十]{1,3}分|一刻)?(?:左右|多)?|[0-9]{1,2}:[0-9]{2}"
_DURATION = (
    rf"(?:[0-9]+|[{_CN}半几]+|好几|十几)\s*(?:个多|多个|个)?(?:天|周|星期|礼拜|月|年|小时)多?"
    rf"(?:了|以来|之久)"
)
RE_TIME = re.compile(
    rf"(?:{_DAY})(?:{_PERIOD})?(?:{_CLOCK_ANY})?"
    rf"|(?:{_PERIOD})(?:{_CLOCK_ANY})?"
    rf"|{_CLOCK_DIGITS}"
    rf"|{_DURATION}"
)


def find_times(text: str) -> list[Entity]:
    return [
        Entity("time", re.sub(r"\s+", "", m.group(0)), m.start(), m.end())
        for m in RE_TIME.finditer(text)
    ]


def extract_entities(text: str, lexicon: PlaceLexicon | None = None) -> list[Entity]:
    """All entities, ordered by position; a phone number hides the numbers inside it."""
    phones = find_phones(text)
    masked = text
    for phone in phones:  # same length, so offsets stay valid
        masked = masked[: phone.start] + "，" * (phone.end - phone.start) + masked[phone.end:]
    masked = re.sub(r"\+?86(?=，)", lambda m: "，" * len(m.group(0)), masked)
    others = find_place_parts(masked, lexicon) + find_times(masked)
    return sorted(phones + others, key=lambda e: (e.start, e.end))
