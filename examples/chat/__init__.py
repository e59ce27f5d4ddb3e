"""The chat example: rooms as channels, Presence, one SessionProcess per browser (see app.py)."""
