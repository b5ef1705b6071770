"""A developer, not signed in, opens the Cookbook from the top bar or the footer, picks an example,
and copies its code, on a phone and on a wide screen: the long line scrolls inside the code block, the
page never sideways."""

import textwrap

import pytest
from playwright.sync_api import expect

LONG_LINE = "print(" + repr("a line longer than any phone is wide, " * 6) + ")"
STREAMING = (
    textwrap.dedent(
        '''\
    """Stream a chat completion and print the tokens as they arrive.

    Each chunk carries a piece of the reply; the last one the usage.
    """

    import os

    from nexevo import Nexevo

    client = Nexevo(base_url=os.environ["NEXEVO_BASE_URL"])
    '''
    )
    + LONG_LINE
    + "\n"
)


@pytest.fixture
def examples(tmp_path, settings):
    directory = tmp_path / "examples"
    directory.mkdir()
    (directory / "streaming.py").write_text(STREAMING)
    (directory / "rag.py").write_text('"""Answer from your own documents with local retrieval."""\n')
    settings.NEXEVO_EXAMPLES_DIR = directory
    return directory


@pytest.mark.browser
@pytest.mark.parametrize(
    "viewport", [{"width": 390, "height": 844}, {"width": 1440, "height": 900}], ids=["phone", "wide"]
)
def test_a_developer_opens_an_example_and_copies_its_code(live_server, browser, examples, viewport):
    context = browser.new_context(
        locale="en-US", viewport=viewport, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.locator("footer").get_by_role("link", name="Cookbook").click()

        expect(page.get_by_test_id("cookbook-heading")).to_be_visible()
        links = page.get_by_test_id("cookbook-example-link")
        expect(links).to_have_text(
            [
                "Answer from your own documents with local retrieval",
                "Stream a chat completion and print the tokens as they arrive",
            ]
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

        links.nth(1).click()

        expect(page).to_have_url(f"{live_server.url}/cookbook/streaming/")
        expect(page.get_by_test_id("example-title")).to_have_text(
            "Stream a chat completion and print the tokens as they arrive"
        )
        code = page.get_by_test_id("example-code")
        expect(code).to_contain_text("from nexevo import Nexevo")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        # The long line scrolls inside the code block, which stays inside the window.
        assert code.evaluate("element => element.scrollWidth > element.clientWidth")
        box = code.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]

        page.get_by_test_id("copy-code").click()

        expect(page.get_by_test_id("copy-code")).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == STREAMING.strip()
        assert errors == []
    finally:
        context.close()


@pytest.mark.browser
def test_an_unknown_example_is_a_404_page(live_server, page, examples):
    response = page.goto(f"{live_server.url}/cookbook/missing/")

    assert response.status == 404
