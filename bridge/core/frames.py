"""Text pieces of the pacing core: normalization, markdown-safe frames and message splits.

Pure functions on strings, no state. The ``Pacer`` (``bridge.core.pacer``) builds every
text it hands to a surface with them:

- ``canonical(text)`` is the append-only form of a growing answer (line endings unified,
  leading blank lines dropped): the canonical form of a prefix is a prefix of the
  canonical form of the whole, which is what lets the pacer commit the head of a long
  answer to a finished message while the rest is still streaming.
- ``normalize(text)`` is ``canonical`` with trailing whitespace stripped: the final text of
  a reply is exactly ``normalize(model text)``.
- ``safe_frame(text, cursor)`` is an intermediate frame: never a half-open code fence or a
  half table row, no trailing newline, an optional cursor glyph.
- ``split_point(text, limit)`` is where a message that outgrew the platform's limit ends
  and its continuation begins: a paragraph or line boundary outside code when there is
  one; inside a long code block the fence is closed and reopened around the seam.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Cut",
    "Fence",
    "canonical",
    "normalize",
    "open_fence",
    "safe_frame",
    "split_point",
    "split_text",
    "with_notice",
]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>`{3,}|~{3,})(?P<info>.*)$")
# Where a line with no boundary in reach may still be broken without cutting a word.
_SOFT_BREAKS = frozenset(" \t。！？；，、.!?;,)")


@dataclass(frozen=True, slots=True)
class Fence:
    """An open fenced code block: how it was opened, and so how to close and reopen it."""

    line: str
    indent: str
    char: str
    length: int

    @property
    def closer(self) -> str:
        """The line that closes this fence."""
        return f"{self.indent}{self.char * self.length}"

    def closed_by(self, line: str) -> bool:
        """True when ``line`` is a closing fence for this block (CommonMark's rule)."""
        stripped = line.strip()
        return len(stripped) >= self.length and set(stripped) == {self.char}


@dataclass(frozen=True, slots=True)
class Cut:
    """Where a message ends: ``text[:index]`` stays, ``text[index:]`` continues.

    ``head`` is what the finished message shows (the fence closed if the cut is inside a
    code block) and ``reopen`` is what the continued message starts with (the fence's
    opening line again, or nothing).
    """

    index: int
    head: str
    reopen: str


def canonical(text: str) -> str:
    """Unified line endings, leading blank lines dropped; prefix-stable as text grows."""
    return text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\n")


def normalize(text: str) -> str:
    """The form every shown text takes: ``canonical`` without trailing whitespace."""
    return canonical(text).rstrip()


def _opener(line: str) -> Fence | None:
    match = _FENCE.match(line)
    if match is None:
        return None
    marker = match["marker"]
    # A backtick fence's info string may not contain a backtick (it is inline code then).
    if marker[0] == "`" and "`" in match["info"]:
        return None
    return Fence(line=line, indent=match["indent"], char=marker[0], length=len(marker))


def _step(fence: Fence | None, line: str) -> Fence | None:
    """The fence open after ``line``, given the one open before it."""
    if fence is None:
        return _opener(line)
    return None if fence.closed_by(line) else fence


def open_fence(text: str) -> Fence | None:
    """The code fence left open at the end of ``text`` (every line counts, even the last)."""
    fence: Fence | None = None
    for line in text.split("\n"):
        fence = _step(fence, line)
    return fence


def _holds_back(line: str) -> bool:
    """A still-growing last line that would render broken: a table row or a fence start."""
    stripped = line.lstrip()
    if not stripped:
        return False
    start = set(stripped[:3])
    return stripped.startswith("|") or start <= {"`"} or start <= {"~"}


def safe_frame(text: str, cursor: str = "") -> str:
    """An intermediate frame of the growing ``text``: renders cleanly at any moment.

    The last line is held back while it is incomplete and would render broken (a table
    row, a fence being typed); an open code fence is closed; trailing whitespace goes
    (a trailing newline flickers); ``cursor`` is appended, inside the code block when
    one is open, since nothing may follow a closing fence on its line.
    """
    body = canonical(text)
    if body and not body.endswith("\n"):
        start = body.rfind("\n") + 1
        if _holds_back(body[start:]):
            body = body[:start]
    body = body.rstrip()
    if not body:
        return ""
    fence = open_fence(body)
    if fence is not None:
        return f"{body}{cursor}\n{fence.closer}"
    last = body[body.rfind("\n") + 1 :]
    # Nothing may follow a closing fence on its line, and a glyph after a table row
    # would become a cell: there the cursor is left out.
    if _opener(last) is not None or last.lstrip().startswith("|"):
        return body
    return body + cursor


def with_notice(text: str, notice: str) -> str:
    """The final text of an interrupted reply: the partial text made safe, then the notice."""
    partial = safe_frame(text)
    return f"{partial}\n\n{notice}" if partial else notice


def _boundaries(text: str) -> list[tuple[int, Fence | None, bool]]:
    """Every index just after a newline: the fence open there and whether a blank line ends."""
    found: list[tuple[int, Fence | None, bool]] = []
    fence: Fence | None = None
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            return found
        line = text[start:end]
        fence = _step(fence, line)
        found.append((end + 1, fence, not line.strip()))
        start = end + 1


def _shown_head(text: str, index: int, fence: Fence | None) -> str:
    head = text[:index].rstrip()
    return f"{head}\n{fence.closer}" if fence is not None else head


def _reopen(fence: Fence | None) -> str:
    return f"{fence.line}\n" if fence is not None else ""


def split_point(text: str, limit: int, *, after: int = 0) -> Cut:
    """Where to end a message whose text no longer fits in ``limit`` characters.

    Preference: the last paragraph boundary outside code, then the last line boundary
    outside code, then the last line boundary inside a code block (closing and
    reopening the fence), each only if it keeps at least a quarter of the limit; a line
    with no boundary in reach is broken at a space or punctuation, or hard at the limit.
    The head shown is always at most ``limit`` characters, the cut is past ``after``
    (the reopened fence a continued message starts with), and ``text[:index]`` and
    ``text[index:]`` rejoin to ``text``.
    """
    end = len(text.rstrip())
    if end <= limit:
        raise ValueError(f"text of {end} characters fits in {limit}; nothing to split")
    floor = max(after + 1, limit // 4)
    fits = [
        (index, fence, blank)
        for index, fence, blank in _boundaries(text)
        if floor <= index < end and len(_shown_head(text, index, fence)) <= limit
    ]
    for wanted in (
        lambda fence, blank: fence is None and blank,
        lambda fence, blank: fence is None,
        lambda fence, blank: True,
    ):
        chosen = [(i, f) for i, f, b in fits if wanted(f, b)]
        if chosen:
            index, fence = chosen[-1]
            return _cut(text, index, fence)
    return _hard_cut(text, limit, floor)


def _cut(text: str, index: int, fence: Fence | None) -> Cut:
    head = _shown_head(text, index, fence)
    # Blank lines at the seam belong to the finished message: the continuation starts
    # with content (outside code only; blank lines inside code are content).
    if fence is None:
        end = len(text.rstrip())
        while index < end and text[index] == "\n":
            index += 1
    return Cut(index, head, _reopen(fence))


def _room(limit: int, fence: Fence | None) -> int:
    return limit - (len(fence.closer) + 1 if fence is not None else 0)


def _hard_cut(text: str, limit: int, floor: int) -> Cut:
    """Break inside the line that crosses the limit, at a soft break when one is near."""
    line_start, fence = 0, None
    for index, after, _blank in _boundaries(text):
        if index >= _room(limit, after):
            break
        line_start, fence = index, after
    room = _room(limit, fence)
    index = room
    # The head is rstripped when shown, so a soft break just before the limit still fits.
    for candidate in range(room, max(floor, line_start + 1) - 1, -1):
        if text[candidate - 1] in _SOFT_BREAKS:
            index = candidate
            break
    opened = _step(None, text[line_start:index]) if fence is None else None
    if opened is not None:
        # The line being broken opens a code block whose info string runs past the limit:
        # the head closes it and the continuation reopens it, like any cut inside code.
        index = min(index, _room(limit, opened))
        fence = _step(None, text[line_start:index])
    return _cut(text, index, fence)


def split_text(text: str, limit: int) -> list[str]:
    """A finished ``text`` as consecutive messages of at most ``limit`` characters each."""
    messages: list[str] = []
    rest = normalize(text)
    reopen = ""
    while len(rest) > limit:
        cut = split_point(rest, limit, after=len(reopen))
        messages.append(cut.head)
        reopen = cut.reopen
        rest = normalize(cut.reopen + rest[cut.index :])
    if rest or not messages:
        messages.append(rest)
    return messages
