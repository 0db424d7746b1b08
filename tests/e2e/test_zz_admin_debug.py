from __future__ import annotations
import pytest
from tests.e2e.test_admin import make_staff
pytestmark = pytest.mark.e2e

def test_debug(tab, site, fresh_email):
    page = tab.page
    tab.sign_up(fresh_email)
    tab.add_passkey(expected=1)
    make_staff(site, fresh_email)
    tab.goto("/admin/passkey/list")
    print(page.evaluate("""() => {
      const vw = document.documentElement.clientWidth;
      const out = [document.documentElement.scrollWidth, vw];
      for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.right > vw + 1) out.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right));
      }
      return out.slice(0, 25);
    }"""))
