"""Filesystem rez repositories: scanning one for conversion, restoring variants into one, what rez pip would install."""
