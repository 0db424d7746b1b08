"""The sign-in and sign-up pages are rendered once per language and path, then served with
only the CSRF token put in (rendering.render_for_visitor): every visitor still gets a token
of their own, which works for them alone, in the language they asked for."""

from __future__ import annotations

import re

import httpx
import pytest

from keyfob.web.runtime import Runtime

TOKEN = re.compile(r'(?:name="csrf-token" content|name="csrf_token"[^>]*value)="([^"]+)"')


def tokens_in(html: str) -> set[str]:
    """Every CSRF token on the page: the meta tag's and each form's hidden field's."""
    return set(TOKEN.findall(html))


@pytest.mark.parametrize("path", ["/login", "/register"])
async def test_each_visitor_gets_their_own_token_in_an_otherwise_equal_page(
    client: httpx.AsyncClient, second_client: httpx.AsyncClient, runtime: Runtime, path: str
) -> None:
    first = (await client.get(path)).text
    assert runtime.visitor_pages, "the page was kept for the next visitor"
    second = (await second_client.get(path)).text
    (mine,), (theirs,) = tokens_in(first), tokens_in(second)
    assert mine != theirs
    assert first.count(mine) == 3, "the meta tag, the page's form and the language menu"
    assert first.replace(mine, "TOKEN") == second.replace(theirs, "TOKEN")

    refused = await client.post(path, data={"email": "a@example.org", "csrf_token": theirs})
    assert refused.status_code == 403, "another visitor's token is not this one's"
    for browser, token in ((client, mine), (second_client, theirs)):
        taken = await browser.post(path, data={"email": "a@example.org", "csrf_token": token})
        assert taken.status_code == 303 and taken.headers["location"] == "/code"


async def test_a_kept_page_is_kept_per_language(client: httpx.AsyncClient) -> None:
    english = await client.get("/login")
    german = await client.get("/login", headers={"Accept-Language": "de"})
    english_again = await client.get("/login", headers={"Accept-Language": "en"})
    assert '<html lang="en"' in english.text and "<h1>Sign in</h1>" in english.text
    assert '<html lang="de"' in german.text and "<h1>Sign in</h1>" not in german.text
    assert '<html lang="en"' in english_again.text
    assert tokens_in(german.text) == tokens_in(english_again.text), "one browser, one token"


async def test_a_signed_in_browser_is_not_served_the_visitor_page(
    client: httpx.AsyncClient, sign_up
) -> None:
    await client.get("/login")
    await sign_up("kept@example.org")
    again = await client.get("/login")
    assert again.status_code == 303
