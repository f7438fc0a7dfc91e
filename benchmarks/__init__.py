"""Timings for `make bench`; tests never assert timings (STYLE.md)."""
