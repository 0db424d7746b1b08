"""HTTP-01 answers: published as files, served by the site and by the plain-HTTP listener."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from keyfob.certs import http01
from keyfob.settings import Settings
from keyfob.web.acme import plain_http_app

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
ANSWER = f"{TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


def test_a_published_answer_is_found_and_gone_once_withdrawn(tmp_path: Path) -> None:
    http01.publish(tmp_path, token=TOKEN, key_authorization=ANSWER)
    assert http01.lookup(tmp_path, TOKEN) == ANSWER
    http01.withdraw(tmp_path, token=TOKEN)
    assert http01.lookup(tmp_path, TOKEN) is None


@pytest.mark.parametrize("token", ["../secret_key", "..", "short", "a" * 129, "tok en" * 5])
def test_a_token_that_is_not_base64url_names_nothing(tmp_path: Path, token: str) -> None:
    (tmp_path / "secret_key").write_text("secret")
    assert http01.lookup(tmp_path / "answers", token) is None
    with pytest.raises(ValueError, match="not an ACME token"):
        http01.publish(tmp_path, token=token, key_authorization="x")


async def test_the_site_serves_the_answer_and_404_otherwise(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    http01.publish(http01.challenge_dir(settings.var_dir), token=TOKEN, key_authorization=ANSWER)
    found = await client.get(f"/.well-known/acme-challenge/{TOKEN}")
    assert (found.status_code, found.text) == (200, ANSWER)
    assert found.headers["content-type"].startswith("text/plain")
    unknown = await client.get(f"/.well-known/acme-challenge/{TOKEN[::-1]}")
    assert unknown.status_code == 404
    traversal = await client.get("/.well-known/acme-challenge/..%2f..%2fsecret_key")
    assert traversal.status_code == 404


async def test_plain_http_answers_challenges_and_redirects_the_rest_to_the_site(
    tmp_path: Path,
) -> None:
    http01.publish(http01.challenge_dir(tmp_path), token=TOKEN, key_authorization=ANSWER)
    app = plain_http_app(var_dir=tmp_path, origin="https://site.test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://evil.example") as plain:
        found = await plain.get(f"/.well-known/acme-challenge/{TOKEN}")
        assert (found.status_code, found.text) == (200, ANSWER)
        assert (await plain.get(f"/.well-known/acme-challenge/{TOKEN[::-1]}")).status_code == 404
        moved = await plain.post("/login?next=%2Faccount", content=b"x")
        assert moved.status_code == 308
        assert moved.headers["location"] == "https://site.test/login?next=%2Faccount"
        assert (await plain.get("/")).headers["location"] == "https://site.test/"
