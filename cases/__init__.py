"""Bundled cases (package data)."""
