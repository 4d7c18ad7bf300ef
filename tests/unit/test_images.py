"""One image check for every channel: real photos pass, bombs and fakes do not."""
import pytest

from minsheng.images import UploadError, check_image
from tests.factories import jpeg_bytes, png_bomb


def test_a_real_photo_is_accepted_with_its_suffix():
    assert check_image(jpeg_bytes()) == ".jpg"


@pytest.mark.parametrize("width,height", [(100_000, 100_000), (9_000, 9_000), (12_000, 6_000)])
def test_images_claiming_too_many_pixels_are_refused(width, height):
    with pytest.raises(UploadError, match="尺寸太大"):
        check_image(png_bomb(width, height))


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff not really", b"%PDF-1.4"])
def test_empty_or_fake_images_are_refused(data):
    with pytest.raises(UploadError):
        check_image(data)
