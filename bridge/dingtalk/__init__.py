"""The DingTalk side of bridge: a typed OpenAPI/webhook client and what it needs.

``client.DingTalkClient`` is the one entry point for outbound calls. Around it:
``wire`` (request/result values, the only place platform JSON is built and parsed),
``faults`` (error answers → ``bridge.errors``), ``auth`` (the access-token cache),
``budget`` (the shared per-app, per-API rate budget), ``retry`` (the retry policy),
``signature`` (callback HMAC) and ``operations`` (names shared with the emulator).
Import from the modules themselves; this package re-exports nothing.
"""
