"""The interactive card template the client tests use (the Stream SDK's standard card).

The AI card template, ``TEMPLATE``, is in tests/dingtalk/conftest.py.
"""

from __future__ import annotations

__all__ = ["CARD_KEY", "CARD_TEMPLATE"]

CARD_TEMPLATE = "382e4302-551d-4880-bf29-a30acfab2e71.schema"
CARD_KEY = "msgContent"
