"""The 承办单 PDF: rendered for a real case, rasterised with PDFium, and checked for drawn
Chinese glyphs — not blank, not tofu boxes — and for its text."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image, ImageChops

from minsheng import case_sheet
from minsheng.enums import FeedbackRoute, Rating
from minsheng.services import cases
from tests.factories import T0, jpeg_bytes, report, resident

LATIN_ONLY = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
SCALE = 3


@pytest.fixture
def handled(db, world, tmp_path):
    """A case opened, signed for, resolved with a photo and rated 基本满意."""
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photos / "done.jpg"
    photo.write_bytes(jpeg_bytes(64, 48))
    worker = world.staff["worker1"]
    with db.uow() as uow:
        case_no = cases.open_case(uow, report(description="三号楼楼道堆满纸箱，影响通行"),
                                  now=T0).case_no
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, worker, now=T0 + timedelta(minutes=20))
    with db.uow() as uow:
        cases.resolve(uow, case_no, worker, "纸箱已清走，楼道畅通", photo_path=str(photo),
                      now=T0 + timedelta(hours=5))
    with db.uow() as uow:
        cases.rate(uow, case_no, Rating.basically_satisfied, FeedbackRoute.online,
                   resident=resident(1), comment="处理及时")
    return case_no, photos


def glyphs(pdf: bytes, text: str, at: int | None = None) -> list[Image.Image]:
    """The rasterised box of each character of the first ``text`` on page 1 (or of as
    many characters from index ``at``: the title is the first text drawn)."""
    page = pypdfium2.PdfDocument(pdf)[0]
    textpage = page.get_textpage()
    start = textpage.get_text_range().index(text) if at is None else at
    bitmap = page.render(scale=SCALE).to_pil().convert("L")
    height = page.get_height()
    boxes = []
    for i in range(start, start + len(text)):
        left, bottom, right, top = textpage.get_charbox(i)
        boxes.append(bitmap.crop((int(left * SCALE), int((height - top) * SCALE),
                                  int(right * SCALE) + 1, int((height - bottom) * SCALE) + 1)))
    return boxes


def drawn_distinctly(boxes: list[Image.Image]) -> bool:
    """Every box has ink (≥ 5 % dark pixels), and any two differ in ≥ 10 % of their
    pixels: tofu boxes and blanks all look alike (they differ in 0 %)."""
    size = boxes[0].size
    shapes = [box.resize(size).point(lambda v: 0 if v < 128 else 255) for box in boxes]
    area = size[0] * size[1]
    inked = all(shape.histogram()[0] >= 0.05 * area for shape in shapes)
    distinct = all(ImageChops.difference(a, b).histogram()[255] >= 0.10 * area
                   for i, a in enumerate(shapes) for b in shapes[i + 1:])
    return inked and distinct


def test_the_sheet_draws_its_chinese_text_and_carries_the_case(db, handled):
    case_no, photos = handled
    with db.uow() as uow:
        pdf = case_sheet.sheet_for(uow, case_no, photos)
    document = pypdfium2.PdfDocument(pdf)
    assert pdf.startswith(b"%PDF") and 1 <= len(document) <= 3
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    for expected in (case_no, "承办单", "乱堆乱放", "三号楼楼道堆满纸箱", "幸福社区第一网格",
                     "签收", "网格处置", "纸箱已清走", "基本满意", "处理及时", "138****5678",
                     "居*", "照片（1 张）"):
        assert expected in text, expected
    assert "13812345678" not in text and "居民1" not in text  # the resident is masked
    assert drawn_distinctly(glyphs(pdf, "民生说事"))
    assert drawn_distinctly(glyphs(pdf, "问题描述"))


def test_the_glyph_check_catches_a_font_without_chinese(db, handled):
    """With a Latin-only font every Chinese character becomes the same box: caught."""
    case_no, photos = handled
    with db.uow() as uow:
        view = cases.get_case(uow, case_no)
    font = case_sheet.FONT_NAME
    case_sheet.FONT_NAME = "LatinOnlyForTest"  # a fresh registration, not the CJK one
    try:
        pdf = case_sheet.render_sheet(view, "居民1", photos, font=LATIN_ONLY)
    finally:
        case_sheet.FONT_NAME = font
    text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert "民生说事" not in text  # no glyph, no text …
    assert not drawn_distinctly(glyphs(pdf, "民生说事", at=0))  # … and the title is boxes


def test_the_photo_is_drawn_on_the_sheet(db, handled):
    case_no, photos = handled
    with db.uow() as uow:
        with_photo = case_sheet.sheet_for(uow, case_no, photos)
        without = case_sheet.sheet_for(uow, case_no, None)
    assert len(with_photo) > len(without) + 500  # the JPEG is embedded
    images = [o for page in pypdfium2.PdfDocument(with_photo)
              for o in page.get_objects(filter=[pypdfium2.raw.FPDF_PAGEOBJ_IMAGE])]
    assert len(images) == 1


def test_no_usable_font_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(case_sheet, "KNOWN_FONTS", [])
    monkeypatch.setenv("PATH", str(tmp_path))  # no fc-list either
    with pytest.raises(case_sheet.FontMissing, match="fonts-wqy-zenhei"):
        case_sheet.find_cjk_font()
