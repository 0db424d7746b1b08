"""Certificates for HTTPS: a local CA for development, ACME (Let's Encrypt) for production."""
