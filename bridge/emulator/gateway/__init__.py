"""The emulated Stream gateway (contract §6.1, §6.2, §14): messages to an app over a WebSocket.

``tickets`` (single-use tickets from ``/v1.0/gateway/connections/open``), ``frames`` (the
JSON frames sent and the ACKs read, pure), ``connection`` (one socket and one delivery as
records), ``hub`` (the gateway's state: connections, frame and ACK logs, redelivery) and
``routes`` (the ticket endpoint and the ``/connect`` WebSocket that runs a connection),
``negotiation`` (the ticket endpoint answers XML unless asked for JSON).
"""
