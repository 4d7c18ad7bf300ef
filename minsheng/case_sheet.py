"""承办单: one printable A4 PDF per case, drawn with ReportLab and a CJK TrueType font.

The font is a file on this machine, never downloaded at run time: the Debian package
``fonts-wqy-zenhei`` (``scripts/ensure_cjk_font.sh`` installs it) or any other TrueType
(.ttf/.ttc) Chinese font fontconfig knows. ReportLab embeds the glyphs it uses, so the
PDF prints the same everywhere. OpenType/CFF fonts (Noto CJK .otf) are not usable by
ReportLab and are skipped. Without a usable font ``FontMissing`` says what to install.

The resident appears masked (name and phone), or not at all for an anonymous case;
photos are only read from inside the photos directory.
"""
from __future__ import annotations

import io
import subprocess
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from minsheng.clock import DEFAULT_TIMEZONE, format_local, utcnow
from minsheng.enums import CHANNEL_LABELS, Channel
from minsheng.errors import DomainError
from minsheng.images import resolve_photo
from minsheng.services.contract import CaseView

FONT_NAME = "MinshengCJK"
KNOWN_FONTS = [Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
               Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
               Path("/usr/share/fonts/truetype/arphic/uming.ttc")]
MAX_PHOTOS = 6
LEVEL_NAMES = {"grid": "网格员", "grid_leader": "网格长", "community": "社区", "street": "街道",
               "referral": "职能部门"}
ANONYMOUS = "匿名反映（不显示姓名和电话）"
ROUTE_NAMES = {"online": "线上", "offline": "电话或走访"}


class FontMissing(DomainError):
    """No TrueType Chinese font on this machine."""


def find_cjk_font(extra: Path | None = None) -> Path:
    """A TrueType CJK font file: ``extra`` if given, a known Debian one, or fontconfig's."""
    candidates = ([Path(extra)] if extra else []) + KNOWN_FONTS
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True,
                                text=True, timeout=10, check=False).stdout
        candidates += [Path(line.split(":")[0].strip()) for line in listed.splitlines()]
    except (OSError, subprocess.SubprocessError):
        pass
    for path in candidates:
        if path.suffix.lower() in (".ttf", ".ttc") and path.is_file():
            return path
    raise FontMissing("找不到可用的中文 TrueType 字体，无法生成承办单。请运行 "
                      "scripts/ensure_cjk_font.sh（安装 Debian 的 fonts-wqy-zenhei）。")


def _register_font(path: Path) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        options = {"subfontIndex": 0} if path.suffix.lower() == ".ttc" else {}
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), **options))


def mask_name(name: str | None) -> str:
    """'张阿姨' → '张**'; no name → '居民'."""
    name = (name or "").strip()
    return name[0] + "*" * max(len(name) - 1, 1) if name else "居民"


def _place(view: CaseView) -> str:
    parts = "".join(p for p in (view.xiaoqu, view.building, view.unit, view.room) if p)
    return "，".join(p for p in (parts, view.address) if p) or "—"


def _result(view: CaseView) -> str:
    notes = [e.note for e in view.events if e.action == "resolve" and e.note]
    return notes[-1] if notes else "—"


class _Sheet:
    """Builds the flowables of one sheet."""

    def __init__(self, tz: str):
        from reportlab.lib.styles import ParagraphStyle

        self.tz = tz
        self.body = ParagraphStyle("body", fontName=FONT_NAME, fontSize=10, leading=14,
                                   wordWrap="CJK")
        self.head = ParagraphStyle("head", parent=self.body, fontSize=13, leading=18,
                                   spaceBefore=8, spaceAfter=4)
        self.title = ParagraphStyle("title", parent=self.body, fontSize=20, leading=26,
                                    alignment=1, spaceAfter=6)

    def p(self, text, style=None):
        from reportlab.platypus import Paragraph

        return Paragraph(escape(str(text if text not in (None, "") else "—")),
                         style or self.body)

    def table(self, rows, widths):
        from reportlab.lib import colors
        from reportlab.platypus import Table, TableStyle

        table = Table([[self.p(c) for c in row] for row in rows], colWidths=widths)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke)]))
        return table

    def when(self, moment: datetime | None) -> str:
        return format_local(moment, self.tz, "full") if moment else "—"


def render_sheet(view: CaseView, resident_name: str | None = None,
                 photos_dir: Path | None = None, tz: str = DEFAULT_TIMEZONE,
                 font: Path | None = None, now: datetime | None = None) -> bytes:
    """The 承办单 of one case as PDF bytes."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, SimpleDocTemplate, Spacer

    from minsheng.enums import HANDLING_LABELS

    _register_font(find_cjk_font(font))
    s, out = _Sheet(tz), io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                            topMargin=16 * mm, bottomMargin=16 * mm,
                            title=f"承办单 {view.case_no}", author="民生说事")
    wide = [32 * mm, doc.width - 32 * mm]
    handling = HANDLING_LABELS.get(view.handling, view.handling) if view.handling else None
    rating = view.rating
    story = [
        s.p("民生说事 · 承办单", s.title), s.p(f"工单号 {view.case_no}", s.head),
        s.table([["问题类别", view.category_label + ("（紧急）" if view.urgent else "")],
                 ["当前状态", view.state_label],
                 ["收集渠道", CHANNEL_LABELS.get(Channel(view.channel), view.channel)],
                 ["受理时间", s.when(view.accepted_at)],
                 ["办结时限", s.when(view.resolve_deadline)],
                 ["反映人", ANONYMOUS if view.anonymous
                  else f"{mask_name(resident_name)}　电话 {view.phone or '—'}"],
                 ["地点", _place(view)]], wide),
        s.p("问题描述", s.head), s.p(view.description),
        s.p("派单与承办", s.head),
        s.table([["网格", f"{view.grid_name or '未分配'}（{view.grid_code or '—'}）"],
                 ["承办人", f"{view.assignee_name or '—'}（{LEVEL_NAMES.get(view.level, '')}）"],
                 ["签收时间", s.when(view.acknowledged_at)]], wide),
        s.p("办理过程", s.head),
        s.table([["时间", "环节", "说明"]] + [
            [s.when(e.at), e.action_label + (f"（{e.actor_name}）" if e.actor_name else ""),
             e.note or ""] for e in view.events],
            [34 * mm, 40 * mm, doc.width - 74 * mm]),
        s.p("办理结果", s.head),
        s.table([["处理方式", handling or "—"], ["办结时间", s.when(view.resolved_at)],
                 ["是否按时", {True: "按时", False: "超时"}.get(view.resolved_on_time, "—")],
                 ["办理结果", _result(view)]], wide),
        s.p("群众评价", s.head),
        s.table([["评价", rating.label if rating else "尚未评价"],
                 ["回访方式", ROUTE_NAMES.get(rating.route, rating.route) if rating else "—"],
                 ["评价意见", rating.comment if rating else "—"],
                 ["评价时间", s.when(rating.at) if rating else "—"]], wide),
    ]
    files = [] if photos_dir is None else [
        f for f in (resolve_photo(photos_dir, p.path) for p in view.photos[:MAX_PHOTOS]) if f]
    if files:
        story.append(s.p(f"照片（{len(files)} 张）", s.head))
        for path in files:
            story += [Image(str(path), width=70 * mm, height=52 * mm, kind="proportional"),
                      Spacer(1, 3 * mm)]
    story += [Spacer(1, 6 * mm), s.p(f"打印时间 {s.when(now or utcnow())}　民生说事")]
    doc.build(story)
    return out.getvalue()


def sheet_for(uow, case_no: str, photos_dir: Path | None = None,
              tz: str = DEFAULT_TIMEZONE, font: Path | None = None) -> bytes:
    """Load the case (NotFound if there is none) and render its 承办单."""
    from minsheng.models import Resident
    from minsheng.services.queries import get_case

    view = get_case(uow, case_no)
    person = uow.session.get(Resident, view.resident_id) \
        if view.resident_id and not view.anonymous else None
    return render_sheet(view, person.display_name if person else None, photos_dir, tz, font)
