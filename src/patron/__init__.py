"""Patron: a self-hosted CRM for online stores."""

__version__ = "0.1.0"
