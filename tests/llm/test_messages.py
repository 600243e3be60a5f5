"""Chat messages: a user message with pictures becomes OpenAI content parts, in order."""

from __future__ import annotations

import base64

from bridge.llm.messages import PICTURE_TEXT, ChatMessage, ImagePart

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))


def test_a_message_with_pictures_is_sent_as_text_and_image_parts_in_order() -> None:
    """Text, picture, text, picture: the openai content lists them in that order."""
    first, second = ImagePart("image/png", PNG), ImagePart("image/jpeg", b"\xff\xd8\xff\xe0")
    message = ChatMessage.user_parts(("看", "这个", first, "和这个", second))
    assert message.openai_content() == [
        {"type": "text", "text": "看这个"},
        {"type": "image_url", "image_url": {"url": first.data_url()}},
        {"type": "text", "text": "和这个"},
        {"type": "image_url", "image_url": {"url": second.data_url()}},
    ]
    assert message.content == f"看这个{PICTURE_TEXT}和这个{PICTURE_TEXT}"


def test_the_data_url_carries_the_exact_bytes() -> None:
    """data:<type>;base64,<bytes>: decoding it gives back every byte."""
    url = ImagePart("image/png", PNG).data_url()
    prefix, encoded = url.split(",", 1)
    assert prefix == "data:image/png;base64"
    assert base64.b64decode(encoded) == PNG


def test_without_pictures_the_message_is_plain_text() -> None:
    """Only text parts: an ordinary string content, as every other message has."""
    message = ChatMessage.user_parts(("你好", "", "[图片无法下载]"))
    assert message == ChatMessage.user("你好[图片无法下载]")
    assert message.openai_content() == "你好[图片无法下载]"


def test_a_picture_alone_is_one_image_part() -> None:
    """A picture message without words is just the image (no empty text part)."""
    picture = ImagePart("image/gif", b"GIF89a")
    assert ChatMessage.user_parts(("", picture)).parts == (picture,)


def test_the_repr_does_not_dump_the_bytes() -> None:
    """Logs and test failures name the picture's size, not megabytes of bytes."""
    assert repr(ImagePart("image/png", PNG)) == "ImagePart(media_type='image/png', 40 bytes)"
