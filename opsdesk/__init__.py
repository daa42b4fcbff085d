"""OpsDesk: one open-source platform for running IT operations."""

__version__ = "0.1.0"
