"""Email addresses are validated and normalised once, here, before any lookup or mail."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from keyfob.errors import InvalidEmail

MAX_LENGTH = 254


def normalise_email(raw: str) -> str:
    """Lower-cased, IDN domains in Unicode form; refuses anything that could inject a header."""
    candidate = raw.strip()
    if not candidate or len(candidate) > MAX_LENGTH or any(c in candidate for c in "\r\n\0"):
        raise InvalidEmail
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail from exc
    return result.normalized.lower()
