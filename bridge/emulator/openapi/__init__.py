"""The emulated api.dingtalk.com (contract §1–§4, §12): every operation called with a token.

``endpoints`` is the emulator's own table of DingTalk endpoints (name, method, path, host,
credential); every platform request, the session webhooks and the gateway's ticket call
included, is routed from it. ``pipeline`` is the path each request takes (faults, caller,
QPS and quota, the operation, the error body, the call log) and ``faults`` the injected
faults and rate limits it applies. The operations themselves: ``apps`` (apps and access
tokens), ``interaction`` (aiInteraction), ``cards`` (card instances and streaming),
``robots`` (robot batch and group sends) and ``files`` (the message-file download).
``routes`` binds them to Starlette routes.
"""
