"""Forms shape input only: fields, validators and translated labels. No lookups, no policy."""

from __future__ import annotations

from typing import Any, Self

from starlette.requests import Request
from starlette_wtf import StarletteForm
from starlette_wtf.form import SUBMIT_METHODS
from wtforms import EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

from keyfob.i18n import lazy_gettext as _l
from keyfob.i18n import wtforms_translations
from keyfob.web.bodies import read_form


class BaseForm(StarletteForm):
    """Filled from the submitted form only (starlette-wtf would also parse a JSON body, and
    answer a broken one with a 500): see keyfob.web.bodies."""

    class Meta:
        def get_translations(self, form: Any) -> Any:
            return wtforms_translations()

    @classmethod
    async def from_formdata(cls, request: Request, formdata: Any = None, **kwargs: Any) -> Self:
        if formdata is None and request.method in SUBMIT_METHODS:
            formdata = await read_form(request)
        return cls(request, formdata=formdata, **kwargs)


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
