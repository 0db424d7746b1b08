"""Forms shape input only: fields, validators and translated labels. No lookups, no policy."""

from __future__ import annotations

from typing import Any

from starlette_wtf import StarletteForm
from wtforms import EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

from keyfob.i18n import lazy_gettext as _l
from keyfob.i18n import wtforms_translations


class BaseForm(StarletteForm):
    class Meta:
        def get_translations(self, form: Any) -> Any:
            return wtforms_translations()


class EmailForm(BaseForm):
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "username webauthn", "inputmode": "email"},
    )
    submit = SubmitField(_l("Send code"))


class RecoveryForm(EmailForm):
    submit = SubmitField(_l("Email me a code"))


class CodeForm(BaseForm):
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(),
            Regexp(r"^\s*\d(?:[\s-]*\d){5}\s*$", message=_l("The code is 6 digits.")),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "maxlength": "12",
            "autofocus": True,
        },
    )
    submit = SubmitField(_l("Verify"))


class RenameForm(BaseForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(min=1, max=64)],
        render_kw={"maxlength": "64", "autocomplete": "off"},
    )
    submit = SubmitField(_l("Rename"))


class NewEmailForm(BaseForm):
    email = EmailField(
        _l("New email address"),
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )
    submit = SubmitField(_l("Send code"))


class SecondFactorForm(BaseForm):
    code = StringField(
        _l("Authenticator code"),
        validators=[DataRequired(), Length(max=32)],
        render_kw={
            "autocomplete": "one-time-code",
            "autofocus": True,
            "maxlength": "32",
            "spellcheck": "false",
            "autocapitalize": "off",
        },
    )
    submit = SubmitField(_l("Verify"))
