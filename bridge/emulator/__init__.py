"""A faithful local DingTalk, served by uvicorn on loopback (design.md §4).

It enforces the wire contract of ``shared/dingtalk-api.md``: the OpenAPI operations
(``openapi``), the session webhooks (``webhooks``), the Stream gateway and its WebSocket
(``gateway``, ``stream``), signed HTTP callbacks to a bridge (``poster``), and a JSON
control API
(``control``, typed client in ``control_client``) that builds the world, plays the chat
users (``Emulator.inbound``), injects faults and reads transcripts, the call log and an
event stream. The state lives in ``state.Emulator`` and the modules it composes; the
simulated OpenAI-compatible model is ``model``. Run it with ``server.running_emulator``
(tests, benchmark, sandbox) or ``bridge emulator``.
"""
