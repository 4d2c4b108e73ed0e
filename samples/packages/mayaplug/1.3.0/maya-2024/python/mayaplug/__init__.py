"""Rigging helpers, built against Maya 2024."""

MAYA_VERSION = 2024
