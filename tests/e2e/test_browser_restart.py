"""The restart flow in headless Chromium against a real `python app.py`: log in as demo, fill the
cart, SIGKILL the process, start it again on the same port and DATA_DIR, and go on in the same window.
With `file` the login and the cart survive and checkout succeeds; with `memory` both are gone.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_file_store_keeps_the_browser_session_across_sigkill(shopper, start_app):
    app = start_app("file")
    before = shopper.fill_cart_as_demo(app.url)
    shopper.screenshot("browser-file-before-sigkill")

    app.kill9()
    app.start()

    after = shopper.view_cart(app.url)
    shopper.screenshot("browser-file-after-sigkill")
    assert after.user is not None and "demo" in after.user, "the login was lost in the restart"
    assert after.lines == before.lines, "the cart lines changed in the restart"
    assert after.count == before.count
    assert after.total == before.total

    shopper.check_out(app.url)
    assert shopper.view_cart(app.url).lines == {}, "checkout did not empty the cart"


def test_memory_store_loses_the_browser_session_across_sigkill(shopper, start_app):
    app = start_app("memory")
    shopper.fill_cart_as_demo(app.url)
    shopper.screenshot("browser-memory-before-sigkill")

    app.kill9()
    app.start()

    after = shopper.view_cart(app.url)
    shopper.screenshot("browser-memory-after-sigkill")
    assert after.user is None, "memory store: the login survived a SIGKILL"
    assert after.lines == {}, "memory store: the cart survived a SIGKILL"
    assert after.count == 0
