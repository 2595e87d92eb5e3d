"""Text in: every query, form and path argument goes through shop.text.read_text (strict UTF-8,
NFC, no control or invisible characters); a text that breaks the rule is a 400 naming the field, or,
for a form shown again, a message at that field (form_values)."""

from __future__ import annotations

from collections.abc import Iterable

import tornado.web

from handlers.errors import ShopError
from shop.text import TextRefused, read_text, without_refused_characters

# Fields compared as typed, never normalised (shop/passwords.py has their own rule).
AS_TYPED_FIELDS = frozenset({"password", "current_password", "new_password"})
# Fields that name a page to go to next: what local_path refuses falls back to "/", never a 400.
LOCAL_PATH_FIELDS = frozenset({"next"})


def field_refused(error: TextRefused) -> ShopError:
    """The 400 for a field whose text broke the rule for text in, naming the field."""
    message = error.message[0].lower() + error.message[1:]
    return ShopError(400, f"In the field \u201c{error.field}\u201d: {message}" if error.field else error.message)


class FormInput(tornado.web.RequestHandler):
    """Tornado's argument reading with the shop's rule for text in; part of BaseHandler."""

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """Every text the shop takes from a query, a form or a path goes through shop.text.read_text
        (UTF-8, NFC, no control or invisible characters); a text that breaks it is a 400 naming the
        field. Handlers that show a form again catch TextRefused by field (form_values)."""
        if name in LOCAL_PATH_FIELDS:
            # Checked by local_path where it is used: anything that is not a path here is "/".
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return ""
        try:
            return read_text(value, name or "", as_typed=name in AS_TYPED_FIELDS)
        except TextRefused as error:
            raise field_refused(error) from None

    def _get_arguments(self, name: str, source: dict[str, list[bytes]], strip: bool = True) -> list[str]:
        # Tornado's own replaces control characters with spaces, silently: ours refuses them instead
        # (decode_argument), so what is stored is what was typed.
        values = []
        for raw in source.get(name, []):
            text = self.decode_argument(raw, name=name)
            values.append(text.strip() if strip else text)
        return values

    def form_values(self, names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
        """The body fields names (each "" when absent), and a message per field whose text broke
        the rule for text in; a refused field's value is shown without the refused characters.
        Passwords (AS_TYPED_FIELDS) are read as typed: not normalised, not stripped."""
        return self._field_values(self.request.body_arguments, names)

    def query_values(self, names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
        """As form_values, for the query's fields (a search shown again with its message)."""
        return self._field_values(self.request.query_arguments, names)

    def form_lists(self, name: str) -> tuple[list[str], dict[int, str]]:
        """Every value of the repeated body field name, in order (a cart form's lines), and a message
        by position for each value whose text broke the rule for text in (shown without them)."""
        values: list[str] = []
        errors: dict[int, str] = {}
        for position, raw in enumerate(self.request.body_arguments.get(name, [])):
            value, error = _field_value(raw, name)
            values.append(value)
            if error is not None:
                errors[position] = error
        return values, errors

    @staticmethod
    def _field_values(source: dict[str, list[bytes]], names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
        values: dict[str, str] = {}
        errors: dict[str, str] = {}
        for name in names:
            values[name], error = _field_value(source.get(name, [b""])[-1], name)
            if error is not None:
                errors[name] = error
        return values, errors


def _field_value(raw: bytes, name: str) -> tuple[str, str | None]:
    """One field's text by the rule, and None; or, when it breaks it, the text without what the rule
    refuses (only to show the form again) and the message."""
    as_typed = name in AS_TYPED_FIELDS
    try:
        text = read_text(raw, name, as_typed=as_typed)
    except TextRefused as error:
        shown = "" if as_typed else without_refused_characters(raw.decode("utf-8", "replace")).strip()
        return shown, error.message
    return (text if as_typed else text.strip()), None
