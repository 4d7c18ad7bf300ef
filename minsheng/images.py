"""Is it a real photo of a modest size? One check for every channel's uploads.

Pillow refuses images over twice its pixel limit with DecompressionBombError (not an
OSError) and only warns between one and two times the limit; both become a refusal here,
and so does anything larger than MAX_PIXELS, which is far more than any phone camera takes.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a 50-megapixel photo; a bomb claims hundreds of millions
FORMATS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}
NOT_AN_IMAGE = "只能上传 JPEG、PNG、GIF 或 WebP 图片"


class UploadError(ValueError):
    """The upload was refused; the message is shown to the resident or staff (Chinese)."""


def check_image(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """The file suffix for ``data`` if it is an accepted image, else UploadError."""
    if not data:
        raise UploadError("没有收到图片")
    if len(data) > max_bytes:
        raise UploadError(f"图片太大（上限 {max_bytes // (1024 * 1024)} MB）")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError("图片尺寸太大，请压缩后再发") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UploadError(NOT_AN_IMAGE) from None
    if kind not in FORMATS:
        raise UploadError(NOT_AN_IMAGE)
    if width * height > MAX_PIXELS:
        raise UploadError("图片尺寸太大，请压缩后再发")
    return FORMATS[kind]


def resolve_photo(photos_dir: Path, stored: str) -> Path | None:
    """The file of a stored photo path, only if it lies inside ``photos_dir`` (a path from
    the database never reaches a file elsewhere)."""
    root = Path(photos_dir).resolve()
    candidate = Path(stored)
    candidate = (candidate if candidate.is_absolute() else Path.cwd() / candidate).resolve()
    return candidate if root in candidate.parents and candidate.is_file() else None
