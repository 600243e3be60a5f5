"""The local sandbox behind ``bridge dev``: emulator, simulated model, bridge and a chat page."""
