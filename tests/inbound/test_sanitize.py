"""bridge.inbound.sanitize: untrusted strings, ids, URLs, numbers and JSON made safe."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import InboundError
from bridge.inbound.sanitize import (
    MAX_JSON_DEPTH,
    REPLACEMENT,
    check_epoch_ms,
    check_id,
    check_url,
    clean_line,
    clean_text,
    json_depth_exceeds,
    read_json,
)

UNSAFE_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
UNSAFE_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
ALLOWED = ("oapi.dingtalk.com", "api.dingtalk.com", "127.0.0.1:8765", "localhost:9000")

# Any code point, lone surrogates and controls included.
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=60)
SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x10FFFF)
    | st.sampled_from("\n\t"),
    max_size=60,
)


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(ANY_TEXT)
def test_clean_text_never_leaves_a_surrogate_or_a_control(text: str) -> None:
    """Whatever comes in, the result encodes as UTF-8 and holds no control but \\n and \\t."""
    cleaned = clean_text(text)
    assert encodable(cleaned)
    assert not UNSAFE_IN_TEXT.search(cleaned)
    assert "\r" not in cleaned


@given(SAFE_TEXT)
def test_clean_text_passes_valid_text_unchanged(text: str) -> None:
    """Text without controls or surrogates (newlines and tabs allowed) is not touched."""
    assert clean_text(text) == text


def test_clean_text_normalizes_line_endings() -> None:
    """CR LF and a lone CR become LF; a NUL and a lone surrogate become U+FFFD."""
    assert clean_text("a\r\nb\rc\x00d\ud800e\tf") == f"a\nb\nc{REPLACEMENT}d{REPLACEMENT}e\tf"


@given(ANY_TEXT)
def test_clean_line_leaves_one_safe_line(text: str) -> None:
    """A name or title keeps no control character at all, newlines included."""
    cleaned = clean_line(text)
    assert encodable(cleaned)
    assert not UNSAFE_IN_LINE.search(cleaned)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60))
def test_clean_line_passes_a_valid_name_unchanged(text: str) -> None:
    """A nick without controls or surrogates is kept as it is."""
    assert clean_line(text) == text


@pytest.mark.parametrize(
    "value",
    ["cidjMOsz+/a==", "$:LWCP_v1:$C8x", "msg2a", "212ca9d7_974_1898c159aa6_1783b", "4525"],
)
def test_platform_ids_pass(value: str) -> None:
    """Ids shaped like DingTalk's pass unchanged."""
    assert check_id(value) == value


@pytest.mark.parametrize(
    "value", ["a b", "a\nb", "a\ud800", "ä", "<script>", 'a"b', "x" * 257, "a\\b"]
)
def test_other_ids_are_refused(value: str) -> None:
    """Whitespace, controls, surrogates, non-ASCII, markup, quotes or a huge length: refused."""
    with pytest.raises(ValueError):  # noqa: PT011 - the reason varies
        check_id(value)


@given(ANY_TEXT)
def test_an_id_that_passes_is_plain_ascii(value: str) -> None:
    """Whatever passes the id check is printable ASCII without spaces."""
    try:
        check_id(value)
    except ValueError:
        return
    assert value.isascii()
    assert all(0x21 <= ord(c) <= 0x7E for c in value)


@pytest.mark.parametrize(
    "url",
    [
        "https://oapi.dingtalk.com/robot/sendBySession?session=c610",
        "https://API.dingtalk.com/v1.0/x",
        "http://127.0.0.1:8765/robot/sendBySession?session=1",
        "http://localhost:9000/x",
    ],
)
def test_allowed_reply_urls_pass(url: str) -> None:
    """https to an allow-listed host, or http to an allow-listed loopback host:port."""
    assert check_url(url, ALLOWED) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://oapi.dingtalk.com/robot/send\tx", "printable ASCII"),
        ("https://oapi.dingtalk.com/robot/send\nx", "printable ASCII"),
        ("https://oapi.dingtalk.com/a b", "printable ASCII"),
        ("https://oapi.dingtalk.com\\@evil.example/", "printable ASCII"),
        ("http://oapi.dingtalk.com/robot", "must be https"),
        ("ftp://oapi.dingtalk.com/robot", "must be an https URL"),
        ("https://user:pw@oapi.dingtalk.com/robot", "user name"),
        ("https://oapi.dingtalk.com:8443/robot", "host:port"),
        ("https://oapi.dingtalk.com:99999/robot", "not a valid URL"),
        ("https://evil.example/robot", "not on the allow-list"),
        ("http://127.0.0.1:6379/", "not on the allow-list"),
        ("https://oapi.dingtalk.com:/robot", "malformed host"),
        ("https://" + "a" * 3000, "longer than"),
    ],
)
def test_other_reply_urls_are_refused(url: str, words: str) -> None:
    """Whitespace, userinfo, an unlisted host or port, plain http off loopback: refused."""
    with pytest.raises(ValueError, match=re.escape(words)):
        check_url(url, ALLOWED)


@given(ANY_TEXT)
def test_a_url_that_passes_is_allow_listed_and_clean(tail: str) -> None:
    """Whatever follows an allowed prefix, a URL that passes has no unsafe character."""
    url = f"https://oapi.dingtalk.com/{tail}"
    try:
        check_url(url, ALLOWED)
    except ValueError:
        return
    assert all(0x21 <= ord(c) <= 0x7E and c != "\\" for c in url)


@pytest.mark.parametrize("value", [0, -1, 1e300, 10**18, float("inf"), float("nan")])
def test_absurd_expiry_times_are_refused(value: float) -> None:
    """Expiry times outside 2001–2100 (in ms) are refused."""
    with pytest.raises(ValueError, match="epoch milliseconds"):
        check_epoch_ms(value)


def test_a_real_expiry_time_passes() -> None:
    """A sessionWebhookExpiredTime from the docs passes."""
    assert check_epoch_ms(1695204671648) == 1695204671648


@pytest.mark.parametrize("depth", [1, MAX_JSON_DEPTH])
def test_json_up_to_the_depth_bound_is_read_and_deeper_is_not(depth: int) -> None:
    """Nesting up to the bound parses; one level more is refused."""
    raw = '{"a":' + "[" * (depth - 1) + "0" + "]" * (depth - 1) + "}"
    assert isinstance(read_json(raw, "body"), dict)
    with pytest.raises(InboundError, match="nests deeper"):
        read_json('{"a":' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}", "body")


@pytest.mark.parametrize(
    "raw",
    [
        '{"a":' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"a":' + "[" * 100_000,
        '{"a":' + '{"b":' * 5_000 + "1" + "}" * 5_000 + "}",
    ],
    ids=["closed", "unclosed", "objects"],
)
def test_deep_json_is_refused_before_parsing(raw: str) -> None:
    """Thousands of levels are a 400, never a RecursionError."""
    with pytest.raises(InboundError, match="nests deeper") as caught:
        read_json(raw, "body")
    assert caught.value.status == 400


def test_brackets_inside_strings_do_not_count() -> None:
    """A message text full of brackets is not deep JSON."""
    text = "[" * 1000 + '\\"' + "{" * 1000
    assert not json_depth_exceeds(json.dumps({"t": text}), 3)
    assert read_json(json.dumps({"t": text}), "body") == {"t": text}


def nesting(value: object) -> int:
    """How deeply arrays and objects nest in a parsed JSON value."""
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    return 0


JSON_VALUES = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\', max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(JSON_VALUES, st.integers(min_value=0, max_value=6))
def test_the_depth_scan_is_exact_on_valid_json(value: object, limit: int) -> None:
    """On valid JSON the scan says "too deep" exactly when the nesting exceeds the limit."""
    assert json_depth_exceeds(json.dumps(value), limit) == (nesting(value) > limit)


def test_json_strings_are_cleaned_keys_included() -> None:
    """Escaped lone surrogates and controls in keys and values come out as U+FFFD."""
    raw = r'{"k\ud800": ["a\u0000b", {"c": "d\udfff\ne"}]}'
    assert read_json(raw, "body") == {
        f"k{REPLACEMENT}": [f"a{REPLACEMENT}b", {"c": f"d{REPLACEMENT}\ne"}]
    }


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"a": NaN}', "not valid JSON"),
        ('{"a": Infinity}', "not valid JSON"),
        ('{"a": 1e400}', "a is out of range"),
        ('{"a": [' + "9" * 30 + "]}", "a[0] is out of range"),
        ('{"a": ' + "9" * 5000 + "}", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        (b"\xff\xfe", "not valid UTF-8"),
    ],
)
def test_numbers_out_of_range_and_non_objects_are_400(raw: str | bytes, words: str) -> None:
    """NaN, Infinity, huge numbers, a top-level array or bad UTF-8: a 400 naming the problem."""
    with pytest.raises(InboundError, match=re.escape(words)) as caught:
        read_json(raw, "body")
    assert caught.value.status == 400


def test_an_oversized_body_is_413() -> None:
    """More bytes than allowed is a 413 before anything is parsed."""
    with pytest.raises(InboundError) as caught:
        read_json(b"{" + b" " * 100 + b"}", "body", max_bytes=50)
    assert caught.value.status == 413
