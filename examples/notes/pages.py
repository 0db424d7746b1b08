"""/notes: write a note, see your own, delete one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from keyfob.extend import Db, Form, NotFound, SignedIn, lazy_gettext, render, utcnow
from notes import store
from notes.models import MAX_LENGTH

router = APIRouter()


class NoteForm(Form):
    note = TextAreaField(lazy_gettext("Note"), validators=[DataRequired(), Length(max=MAX_LENGTH)])
    submit = SubmitField(lazy_gettext("Save note"))


class DeleteForm(Form):
    """Only the CSRF token: the button is the page's."""


async def _page(
    request: Request, db: Db, person: SignedIn, form: NoteForm, status_code: int = 200
) -> Response:
    notes = await store.of_account(db, user_id=person.id)
    context = {"form": form, "notes": notes, "delete_form": DeleteForm(request)}
    return render(request, "notes/index.html", context, status_code=status_code)


@router.get("/notes")
async def notes_page(request: Request, db: Db, person: SignedIn) -> Response:
    return await _page(request, db, person, NoteForm(request))


@router.post("/notes")
async def save_note(request: Request, db: Db, person: SignedIn) -> Response:
    form = await NoteForm.from_formdata(request)
    if not await form.validate_on_submit():
        return await _page(request, db, person, form, status_code=400)
    await store.add(db, user_id=person.id, text=(form.note.data or "").strip(), now=utcnow())
    return RedirectResponse("/notes", status_code=303)


@router.post("/notes/{note_id}/delete")
async def delete_note(request: Request, db: Db, person: SignedIn, note_id: int) -> Response:
    form = await DeleteForm.from_formdata(request)
    if not await form.validate_on_submit():
        return await _page(request, db, person, NoteForm(request), status_code=400)
    if not await store.remove(db, user_id=person.id, note_id=note_id):
        raise NotFound
    return RedirectResponse("/notes", status_code=303)
