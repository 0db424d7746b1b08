"""Every failure a person can cause, each with a stable code and a message in their language."""

from __future__ import annotations

from typing import ClassVar

from keyfob.i18n import gettext, lazy_gettext, ngettext


class KeyfobError(Exception):
    """Base of the family: the web layer turns any of these into a 4xx, never a 500."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    message: ClassVar[object] = lazy_gettext("Something was wrong with that request.")

    def __str__(self) -> str:
        return str(self.message)

    def text(self) -> str:
        return str(self.message)


class InvalidEmail(KeyfobError):
    """The address is not one we can send mail to."""

    code = "email_invalid"
    message = lazy_gettext("Enter a valid email address.")


class CodeRejected(KeyfobError):
    """Wrong, expired, used up or unknown code: one answer for all, so none is an oracle."""

    code = "code_invalid"
    message = lazy_gettext("That code is not valid. Check it, or ask for a new one.")


class SecondFactorRejected(CodeRejected):
    """A wrong, replayed or already used app or recovery code."""

    message = lazy_gettext("That code is not valid or has already been used.")


class ResendTooSoon(KeyfobError):
    """A new code was asked for before the cooldown ended."""

    code = "resend_too_soon"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    def text(self) -> str:
        return gettext(
            "Please wait %(seconds)s seconds before asking for a new code.",
            seconds=self.retry_after,
        )

    def __str__(self) -> str:
        return self.text()


class PasskeyRejected(KeyfobError):
    """The browser's passkey response did not verify."""

    code = "passkey_rejected"
    message = lazy_gettext("That passkey could not be verified. Please try again.")


class ChallengeExpired(KeyfobError):
    """No live challenge for this browser: it expired, was used, or never existed."""

    code = "challenge_expired"
    message = lazy_gettext("This passkey request has expired. Please try again.")


class UnknownCredential(KeyfobError):
    """The passkey is not registered here (deleted, or made for another site)."""

    code = "unknown_credential"
    message = lazy_gettext("This passkey is not registered here. Choose another one.")


class CredentialInUse(KeyfobError):
    """That authenticator is already registered."""

    code = "credential_in_use"
    status = 409
    message = lazy_gettext("This passkey is already registered.")


class SignCountRegressed(KeyfobError):
    """The authenticator's counter went backwards: possibly a cloned key."""

    code = "sign_count"
    message = lazy_gettext("That passkey could not be verified. Please try again.")


class MalformedRequest(KeyfobError):
    """The request body is not the JSON, base64url or CBOR it should be."""

    code = "malformed"
    message = lazy_gettext("The request was malformed.")


class CsrfFailed(KeyfobError):
    """A state-changing request without a valid token from our own page."""

    code = "csrf"
    status = 403
    message = lazy_gettext("Your session expired or the form is out of date. Reload the page.")


class SignInRequired(KeyfobError):
    """The action needs a signed-in person."""

    code = "sign_in_required"
    status = 401
    message = lazy_gettext("Please sign in first.")


class BodyTooLarge(KeyfobError):
    """The request body is over the limit for its endpoint."""

    code = "too_large"
    status = 413
    message = lazy_gettext("The request was too large.")


class Throttled(KeyfobError):
    """Too many requests of one kind from one place or for one address."""

    code = "throttled"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    def text(self) -> str:
        return ngettext(
            "Too many attempts. Please wait %(num)d second and try again.",
            "Too many attempts. Please wait %(num)d seconds and try again.",
            self.retry_after,
        )

    def __str__(self) -> str:
        return self.text()


class ReauthRequired(KeyfobError):
    """The action needs a sign-in within the last few minutes."""

    code = "reauth_required"
    status = 403
    message = lazy_gettext("Please confirm it's you to continue.")

    def __init__(self, *, passkey: bool = False) -> None:
        super().__init__()
        self.passkey = passkey


class PasskeySignInRequired(KeyfobError):
    """A session opened by an emailed code may only add a passkey, see the account, sign out."""

    code = "passkey_required"
    status = 403
    message = lazy_gettext(
        "You signed in with an emailed code. To do this, confirm with one of your passkeys, "
        "or add a new passkey first."
    )


class NotFound(KeyfobError):
    """No such passkey or session on this account."""

    code = "not_found"
    status = 404
    message = lazy_gettext("There is nothing like that on your account.")


class InvalidName(KeyfobError):
    """A passkey name must be 1 to 64 printable characters."""

    code = "name_invalid"
    message = lazy_gettext("Enter a name of 1 to 64 characters.")


class Forbidden(KeyfobError):
    """Signed in, but this page is not for this account (a staff-only page of a site owner)."""

    code = "forbidden"
    status = 403
    message = lazy_gettext("You may not do that here.")
