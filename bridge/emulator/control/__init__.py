"""The emulator's own JSON control API under ``/_emulator``, and its typed client.

Tests, the benchmark and the sandbox page build the world, play the chat users, inject
faults and read transcripts, the call log and events through it. ``views`` (the JSON
shapes both sides share), ``routes`` (world, chat and wire), ``stream`` (the Stream
gateway and HTTP callbacks), and the client ``EmulatorControl`` (``client``, with the
Stream side in ``stream_client`` and the HTTP plumbing in ``transport``).
"""
