"""The back office needs a passkey sign-in under every setting: with
KEYFOB_CODE_SIGN_IN_IS_RECOVERY=false an emailed code opens a full session on the site, and
still never /admin."""

from __future__ import annotations

import httpx
import pytest

from keyfob.auth.staff import set_staff
from keyfob.settings import Settings
from keyfob.web.runtime import Runtime
from tests.integration.test_admin_support import code_by_mail, enter_code
from tests.mailsink import MailSink

STAFF_WITHOUT_PASSKEY = "nopasskey.staff@example.org"


@pytest.fixture(params=[True, False], ids=["code-is-recovery", "code-is-full-sign-in"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update={"code_sign_in_is_recovery": request.param})


async def test_an_emailed_code_alone_never_opens_the_back_office(
    client: httpx.AsyncClient, runtime: Runtime, deliver, mail_sink: MailSink
) -> None:
    async with runtime.sessionmaker() as db, db.begin():
        await set_staff(db, email=STAFF_WITHOUT_PASSKEY, staff=True)
    code = await code_by_mail(client, deliver, mail_sink, STAFF_WITHOUT_PASSKEY)
    assert (await enter_code(client, code)).status_code == 303
    assert "Signed in as" in (await client.get("/account")).text

    for path in ("/admin/", "/admin/user/list"):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "confirm with one of your passkeys" in response.text
