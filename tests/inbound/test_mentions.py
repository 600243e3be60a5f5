"""The assistant's own @mention leaves the text; nothing else does (``mentions``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.inbound.mentions import bot_mentioned, strip_own_mentions

NAMES = ("Bridge Dev",)


def test_mention_anywhere_goes_when_mentioned() -> None:
    """With the mention flag, every own mention goes and reports that it was there."""
    said = strip_own_mentions("@Bridge Dev 你好 @Bridge Dev", NAMES, mentioned=True)
    assert (said.text, said.found) == ("你好", True)


def test_only_a_leading_mention_goes_without_the_flag() -> None:
    """Without the mention flag, a mention in the middle is ordinary text."""
    said = strip_own_mentions("  @Bridge Dev 问 @Bridge Dev", NAMES, mentioned=False)
    assert (said.text, said.found) == ("问 @Bridge Dev", True)
    plain = strip_own_mentions("问 @Bridge Dev", NAMES, mentioned=False)
    assert (plain.text, plain.found) == ("问 @Bridge Dev", False)


def test_a_name_is_not_matched_inside_a_longer_word_or_address() -> None:
    """ "@Bridge Developer" and "x@Bridge Dev" are not mentions of Bridge Dev."""
    for text in ("@Bridge Developer hi", "mail x@Bridge Dev hi"):
        assert strip_own_mentions(text, NAMES, mentioned=True).text == text


def test_bot_mentioned_reads_the_at_list_or_the_at_users() -> None:
    """isInAtList, or the robot's own id among atUsers; nothing else counts."""
    bot = "$:LWCP_v1:$bot"
    assert bot_mentioned({"isInAtList": True})
    assert bot_mentioned({"chatbotUserId": bot, "atUsers": [{"dingtalkId": bot}]})
    assert not bot_mentioned({"chatbotUserId": bot, "atUsers": [{"dingtalkId": "other"}]})
    assert not bot_mentioned({"isInAtList": False, "atUsers": "nonsense"})


@given(st.text(alphabet=st.characters(blacklist_characters="@"), max_size=60))
def test_text_without_an_at_sign_is_only_trimmed(text: str) -> None:
    """No "@", no change but the trim, whatever the names and the flag."""
    for mentioned in (True, False):
        said = strip_own_mentions(text, NAMES, mentioned=mentioned)
        assert (said.text, said.found) == (text.strip(), False)


@given(st.text(max_size=40), st.sampled_from(["@Bob", "@Carol 看看", "@Bridge Developer"]))
def test_other_mentions_always_survive(text: str, other: str) -> None:
    """A mention of someone else is never removed."""
    said = strip_own_mentions(f"@Bridge Dev {other} {text}", NAMES, mentioned=True)
    assert other in said.text
