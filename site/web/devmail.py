"""Development mailbox: the mail the site would have sent. Mounted only on a local site
without SMTP, so it can never expose codes on a public one."""

from __future__ import annotations

from email import message_from_bytes, policy

from fastapi import APIRouter, Request
from fastapi.responses import Response

from keyfob.web.deps import CurrentSettings
from keyfob.web.rendering import render

router = APIRouter()
SHOWN = 50


@router.get("/dev/mailbox")
async def mailbox(request: Request, settings: CurrentSettings) -> Response:
    folder = settings.var_dir / "mailbox"
    files = sorted(folder.glob("*.eml"), reverse=True)[:SHOWN] if folder.exists() else []
    mails = []
    for path in files:
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        mails.append(
            {
                "to": parsed["To"],
                "subject": parsed["Subject"],
                "date": parsed["Date"],
                "text": body.get_content() if body is not None else "",
            }
        )
    return render(request, "devmail/index.html", {"mails": mails})
