"""Upscalers by job; see compact.py for the nets trained for this project."""
