"""Keyfob's back office for staff, built on SQLAdmin (package keyfob.admin)."""
