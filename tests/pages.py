"""The shop's pages as the tests read them: every element that carries a data-testid (the contract's
hooks), with its attributes and its text. One parser, used by every HTTP client in the tests."""

from __future__ import annotations

from html.parser import HTMLParser

VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page:
    """A page as it was answered: its status, its URL and the elements that have a data-testid."""

    def __init__(self, html: str, *, status: int = 200, url: str = "") -> None:
        self.html = html
        self.status = status
        self.url = url
        self.elements = testid_elements(html)

    def all(self, testid: str) -> list[dict]:
        return [element for element in self.elements if element["attrs"].get("data-testid") == testid]

    def first(self, testid: str) -> dict | None:
        found = self.all(testid)
        return found[0] if found else None

    def text(self, testid: str) -> str | None:
        element = self.first(testid)
        return None if element is None else " ".join(element["text"].split())

    @property
    def flash(self) -> str:
        return self.text("flash") or ""

    @property
    def current_user(self) -> str | None:
        return self.text("current-user")

    @property
    def cart_count(self) -> int:
        digits = "".join(ch for ch in self.text("cart-count") or "" if ch.isdigit())
        return int(digits) if digits else 0

    @property
    def cart_lines(self) -> dict[str, int]:
        return {line["attrs"]["data-product-id"]: int(line["attrs"]["data-quantity"]) for line in self.all("cart-line")}


def testid_elements(html: str) -> list[dict]:
    """Each element with a data-testid, in document order, as {"tag", "attrs", "text"}; the text
    includes that of the elements inside it."""
    parser = _TestidParser()
    parser.feed(html)
    parser.close()
    return parser.elements


class _TestidParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._open: list[tuple[str, dict | None]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        element = None
        if "data-testid" in attrs:
            element = {"tag": tag, "attrs": attrs, "text": ""}
            self.elements.append(element)
        if tag not in VOID_TAGS:
            self._open.append((tag, element))

    def handle_startendtag(self, tag, attrs):
        # <input ... />: opened and closed at once; its end must not pop the elements around it.
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID_TAGS:
            return
        # Pop up to the matching start tag, so that an element left unclosed cannot swallow the rest.
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        for _, element in self._open:
            if element is not None:
                element["text"] += data
