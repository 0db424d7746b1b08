"""Keyfob: passwordless, phishing-resistant sign-in for a FastAPI site."""

__version__ = "0.1.0"
