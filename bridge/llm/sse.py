"""Server-sent events, decoded incrementally from the bytes of a streamed answer (pure).

``SSEDecoder.feed(bytes)`` returns the ``data`` of every event the bytes complete, in
order; the rest waits for the next read. Only what chat completions use is kept: the
``data`` lines of an event (several are joined with a newline), ended by a blank line.
Comments (``: keep-alive``) and the ``event``, ``id`` and ``retry`` fields are skipped.
Lines end with ``\\n`` or ``\\r\\n`` (every OpenAI-compatible server sends one of
those); a line is decoded as UTF-8 only once complete, so a character split between
two reads arrives whole, and bytes that are not UTF-8 become U+FFFD, as the SSE
standard decodes them (a stray byte should not fail a whole answer). ``close()``
gives the event the stream ended in, if its blank line never came.

``LLMSource`` decodes the model's stream with it a socket read at a time, so the events
of one read are handled together (``bridge.llm.source``).
"""

from __future__ import annotations

__all__ = ["SSEDecoder"]


class SSEDecoder:
    """The ``data`` of each complete event in the bytes fed so far."""

    def __init__(self) -> None:
        self._pending = b""  # an incomplete line
        self._data: list[str] = []  # the data lines of the event being read

    def feed(self, chunk: bytes) -> list[str]:
        """Take the next bytes of the stream; the events they complete."""
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        events: list[str] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                value = value[1:] if value.startswith(b" ") else value
                self._data.append(value.decode(errors="replace"))
        return events

    def close(self) -> list[str]:
        """The stream ended: the last event if it lacked its blank line."""
        events = self.feed(b"\n\n") if self._pending or self._data else []
        self._pending, self._data = b"", []
        return events
