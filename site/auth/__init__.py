"""Flows: plain async functions over a database session, with no HTTP in sight."""
