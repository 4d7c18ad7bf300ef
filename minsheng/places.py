"""Place parts from free text: 小区, 楼栋, 单元, 室 — and a normal form for matching.

"幸福里小区三号楼2单元502室" → Place(xiaoqu="幸福里小区", building="3号楼", unit="2单元", room="502").
Chinese numerals are turned into digits and 栋/幢/座/号楼 into one form, so that the
resident's "三栋" matches the coverage list's "3号楼".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUM = "零〇一二两三四五六七八九十百"


def cn_to_int(text: str) -> int | None:
    """'十二' → 12, '三' → 3, '二十一' → 21, '105' → 105; None when not a number."""
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _CN_NUM for ch in text):
        return None
    if "十" not in text and "百" not in text:  # read digit by digit: 一零五 → 105
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in "十百":
            total += (current or 1) * (10 if ch == "十" else 100)
            current = 0
        else:
            current = _DIGITS[ch]
    return total + current


_NUM = rf"[0-9{_CN_NUM}]+"
_ESTATE_SUFFIX = "小区|花园|家园|新村|新城|公寓|苑|园|府|里|城|庄园|社区|大院|村"
_RE_ESTATE = re.compile(rf"([\u4e00-\u9fa5A-Za-z0-9]{{1,12}}(?:{_ESTATE_SUFFIX}))(?:[A-Za-z]区|[东南西北一二三四五六七八九]区|[一二三四五六七八九]期)?")
_RE_BUILDING = re.compile(rf"({_NUM}|[A-Za-z]\d*)\s*(号楼|号栋|栋|幢|座|号院|楼)(?!下|上|道|梯|顶)")
_RE_UNIT = re.compile(rf"({_NUM})\s*单元")
_RE_ROOM = re.compile(rf"({_NUM})\s*(?:室|号房|户)|(?:单元|-)\s*(\d{{3,4}})(?!\d)")
_RE_LEADING_NOISE = re.compile(r"^.*?(?:我们|咱们|我家|俺们|我住的|住在|位于|就在|在)")
_NOT_A_NAME = {"小区", "本小区", "这个小区", "那个小区", "社区", "村", "花园", "公园"}
_RE_NOT_A_NAME = re.compile(r"(楼道|楼梯|家|这|那|哪|院|屋|店|巷|路|门|车库|地下室|河|沟)里$")
_RE_BARE_ROOM = re.compile(r"(?<![0-9])(\d{3,4})(?![0-9号栋幢座楼单])")


@dataclass(frozen=True)
class Place:
    xiaoqu: str | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.xiaoqu or self.building or self.unit or self.room)

    def text(self) -> str:
        parts = [self.xiaoqu, self.building, self.unit, f"{self.room}室" if self.room else None]
        return "".join(p for p in parts if p)


def normalize_building(raw: str) -> str | None:
    """'三栋' / '3幢' / '3号楼' / '3 号楼' → '3号楼'; letters kept ('A座' → 'A座')."""
    match = _RE_BUILDING.search(raw.replace(" ", ""))
    if not match:
        return None
    number, kind = match.group(1), match.group(2)
    value = cn_to_int(number)
    if value is None:  # a letter such as A or B2
        return f"{number.upper()}{'座' if kind == '座' else '栋'}"
    return f"{value}号楼"


def normalize_xiaoqu(raw: str) -> str:
    """Drop spaces and a trailing 小区 so '幸福里小区' and '幸福里' match."""
    name = re.sub(r"\s+", "", raw)
    return name[:-2] if name.endswith("小区") and len(name) > 2 else name


def parse_place(text: str) -> Place:
    """Best-effort place parts; parts that are not in the text stay None."""
    compact = re.sub(r"\s+", "", text or "")
    xiaoqu = building = unit = room = None
    building_match = _RE_BUILDING.search(compact)
    estate_area = compact[: building_match.start()] if building_match else compact
    estate = _RE_ESTATE.search(estate_area)
    if estate:
        xiaoqu = _RE_LEADING_NOISE.sub("", estate.group(0)) or None
        if xiaoqu in _NOT_A_NAME or (xiaoqu and _RE_NOT_A_NAME.search(xiaoqu)):
            xiaoqu = None
    if building_match:
        building = normalize_building(building_match.group(0))
    unit_match = _RE_UNIT.search(compact)
    if unit_match:
        unit_no = cn_to_int(unit_match.group(1))
        unit = f"{unit_no}单元" if unit_no is not None else None
    room_match = _RE_ROOM.search(compact)
    if room_match:
        room = room_match.group(1) or room_match.group(2)
        number = cn_to_int(room) if room else None
        room = str(number) if number is not None else room
    elif building or unit:
        tail = compact[(unit_match or building_match).end():]
        bare = _RE_BARE_ROOM.match(tail)
        room = bare.group(1) if bare else None
    return Place(xiaoqu=xiaoqu, building=building, unit=unit, room=room)
