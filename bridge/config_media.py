"""The ``[media]`` section: how bridge fetches the pictures users send, and what it says.

DingTalk hands over a picture as a temporary ``downloadCode``; bridge exchanges it for a
pre-signed URL (``POST /v1.0/robot/messageFiles/download``) and GETs that URL when the
message is answered (``bridge.dingtalk.media``). The URL's host is undocumented, so it
must be on ``allowed_hosts``; the body is read up to ``max_bytes`` and within
``timeout``. Only a model marked ``[llm] vision = true`` gets the pictures; otherwise
it gets a placeholder and the user, once per conversation, ``picture_note``.

**Plain http is allowed** for allow-listed media hosts unless ``https_only``: DingTalk's
own sample ``downloadUrl`` is ``http://`` (``dingtalk-api.md`` §12). The URL is
pre-signed and short-lived and carries no bridge credential; what http exposes is the
picture itself, on the path between bridge and Alibaba's storage. Set ``https_only =
true`` to refuse such URLs (the picture then reaches the model as a placeholder).

Kept apart from ``bridge.config`` so that module stays small; ``Config.media`` is this.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_MEDIA_HOSTS", "MediaConfig"]

DEFAULT_MEDIA_HOSTS = (".dingtalk.com", ".aliyuncs.com")
"""The host suffixes peers allow for download URLs (DingTalk's own and Alibaba Cloud OSS)."""

_HOST = re.compile(r"^\.?[a-z0-9-]+(\.[a-z0-9-]+)*(:[0-9]{1,5})?$")


class MediaConfig(BaseModel):
    """``[media]``: where pictures may be fetched from, how much, how long, the note."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    # ".aliyuncs.com" allows every host under it; "host" or "host:port" only that one.
    allowed_hosts: tuple[str, ...] = DEFAULT_MEDIA_HOSTS
    https_only: bool = False
    max_bytes: Annotated[int, Field(ge=1024, le=100 * 1024 * 1024)] = 10 * 1024 * 1024
    # Pictures fetched per message; the rest reach the model as placeholders.
    max_pictures: Annotated[int, Field(ge=0, le=32)] = 4
    timeout: Annotated[float, Field(gt=0)] = 15.0
    picture_note: Annotated[str, Field(min_length=1)] = (
        "（抱歉，我暂时看不到图片，只能读到文字。需要的话，请用文字描述图片内容。）"
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_are_hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for host in hosts:
            if not _HOST.match(host):
                raise ValueError(
                    f"{host!r} is not a host, host:port or .suffix (lower case, no scheme)"
                )
        return hosts
