"""Importers: read a source file, validate every row, then write all of it or nothing."""
