"""DingTalk's hooks in both directions: session webhooks the app answers on, messages it is handed.

Outbound from the app: ``sessions`` (the robot and AI-assistant session webhooks of §5,
whose URL is their own credential) served by ``routes``. Inbound to the app: ``inbound``
(a user's message and the payloads it becomes, §6.3 and §6.5), ``dispatch`` (handing it
over as a Stream frame or an HTTP callback), ``poster`` (rendering and posting HTTP
callbacks) and ``signature`` (the callback signature of §6.4).
"""
