"""A decompression-bomb PNG is refused with a Chinese answer, never a 500."""
from tests.factories import png_bomb
from tests.web.conftest import csrf_of


def test_a_decompression_bomb_photo_in_the_chat_is_refused_and_nothing_is_kept(client, rasa,
                                                                              settings):
    client.get("/chat")
    response = client.post("/chat/photo",
                           files={"photo": ("bomb.png", png_bomb(), "image/png")},
                           headers={"X-CSRFToken": csrf_of(client)})
    assert response.status_code == 400
    assert "尺寸太大" in response.json()["detail"]
    assert rasa.received == []
    assert not settings.photos_dir.exists() or not any(settings.photos_dir.rglob("*.*"))
