"""Inbound doors: the Stream-mode client, the HTTP callback server, and payload parsing."""
