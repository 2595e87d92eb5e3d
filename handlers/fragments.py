"""Page fragments rendered once and kept: a cart line's HTML depends only on its product and the
quantity shown, so a 20-line cart costs 20 look-ups instead of 20 renders of ~20 escapes each.

The one per-person part of a fragment, the XSRF hidden field, is left out when it is rendered (a
mark stands in its place) and put in each time it is used.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

# Stands in for the XSRF field while a kept fragment is rendered: an HTML comment no page contains.
_XSRF_MARK = Markup(f"<!--xsrf-{secrets.token_hex(8)}-->")

DEFAULT_LIMIT = 4096


class Fragments:
    """Rendered fragments by key; at most `limit` are kept, the oldest dropped first (limit 0: none
    kept, every fragment rendered afresh)."""

    def __init__(self, env: Environment, limit: int = DEFAULT_LIMIT) -> None:
        self._env = env
        self._limit = limit
        # The fragment's HTML split at each XSRF field.
        self._kept: dict[Hashable, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def render(self, template_name: str, key: Hashable | None, context: dict[str, Any],
               xsrf_form_html: Callable[[], Markup]) -> Markup:
        """The template rendered with context, kept under key (which must cover everything in context
        the template shows) and reused while kept. key None: rendered afresh, not kept (an error
        message, a value as sent: things shown once)."""
        if key is None:
            return Markup(self._env.get_template(template_name).render(context, xsrf_form_html=xsrf_form_html))
        parts = self._kept.get(key)
        if parts is None:
            html = self._env.get_template(template_name).render(context, xsrf_form_html=lambda: _XSRF_MARK)
            parts = tuple(html.split(str(_XSRF_MARK)))
            if self._limit > 0:
                if len(self._kept) >= self._limit:
                    del self._kept[next(iter(self._kept))]
                self._kept[key] = parts
        if len(parts) == 1:
            return Markup(parts[0])
        # str.join: Markup.join would escape the parts.
        return Markup(str(xsrf_form_html()).join(parts))
