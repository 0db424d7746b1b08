"""Development mailbox: the mail the site would have sent. Mounted only on a local site
without SMTP, and answered only to a browser on this machine that names this machine: a
request from elsewhere, or for any other Host (a public name routed here before SMTP is set
up, a proxy on loopback), gets a 404, so it can never expose codes."""

from __future__ import annotations

import ipaddress
from email import message_from_bytes, policy

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from keyfob.web.client import host_name
from keyfob.web.deps import CurrentSettings
from keyfob.web.rendering import render

router = APIRouter()
SHOWN = 50


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


def _from_this_machine(request: Request) -> bool:
    peer = request.client.host if request.client else ""
    try:
        loopback_peer = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
    name = host_name(request.headers.get("host", ""))
    return loopback_peer and (name in LOOPBACK_NAMES or name.endswith(".localhost"))


@router.get("/dev/mailbox")
async def mailbox(request: Request, settings: CurrentSettings) -> Response:
    if not _from_this_machine(request):
        raise HTTPException(404)
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
