"""Rigging helpers, built against Maya 2025."""

MAYA_VERSION = 2025
