"""Inbound doors: each turns what it receives (Stream frames, HTTP callbacks, pushes) into Turns."""
