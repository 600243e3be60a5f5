"""A simulated OpenAI-compatible model that the bridge streams replies from.

``script`` (pure: what it says and how fast, directives, faults), ``reply`` (one
completion on the wire, SSE or JSON, and its record), ``simulator`` (the model's state and
``POST /v1/chat/completions``), ``routes`` (its Starlette routes and control endpoints
under ``/_emulator/model``) and ``control`` (the typed client of those endpoints).
"""
