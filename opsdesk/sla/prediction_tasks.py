"""Periodic scoring of open clocks (breach prediction)."""
