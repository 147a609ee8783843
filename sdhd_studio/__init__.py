"""SDHD Studio: turn SD video into clean HD, re-rendering only the frames whose inputs changed."""

__version__ = "0.1.0"
