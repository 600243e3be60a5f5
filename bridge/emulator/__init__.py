"""A local DingTalk, served by uvicorn on loopback, for tests, the benchmark and ``bridge dev``.

It is an independent implementation of the wire contract (``shared/dingtalk-api.md``): it
shares no code with the production client, so a client that calls the wrong path, sends
the wrong body or skips a step fails against it as it would against DingTalk.

Subpackages, one concern each:

``openapi``   the api.dingtalk.com operations: the endpoint table every request is routed
              by, apps and access tokens, aiInteraction, cards, robot sends, and the
              request pipeline (faults, QPS, quota, call log) they all go through
``gateway``   the Stream gateway: tickets, WebSocket connections, frames, ACKs, redelivery
``webhooks``  session webhooks (the app's replies) and inbound delivery: the messages a
              user sends, handed to the app as Stream frames or signed HTTP callbacks
``model``     a simulated OpenAI-compatible model with scripts, speeds and faults
``media``     the pictures, voice, videos and files users send: their download codes,
              pre-signed URLs and the storage route that serves them
``control``   the emulator's own JSON control API under ``/_emulator``, its views and its
              typed client ``EmulatorControl``
``page``      the sandbox chat page served at ``/``
``world``     state every part shares: the clock, event bus, call log, transcript and
              card templates

At the top: ``state.Emulator`` composes the world, ``app.create_app`` puts every route on
one Starlette app, and ``server.running_emulator`` serves it (``bridge emulator`` runs
``server.serve``). ``errors`` holds the emulator's own exceptions. ``printed_config``
renders a bridge config for a running emulator (``bridge emulator --print-config``).
"""
