"""Periodic jobs: the warning and breach sweep."""
