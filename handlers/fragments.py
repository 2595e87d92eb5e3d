"""Page fragments rendered once and kept: a cart line's HTML depends only on its product and the
quantity shown, so a 20-line cart costs 20 look-ups instead of 20 renders of ~20 escapes each.

The per-use parts of a fragment, the XSRF hidden field (the same for a whole page) and a form's
one-time key (fresh for every form shown), are left out when it is rendered (a mark stands in the
place of each) and put in each time it is used.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Hashable
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

# Stand in for the XSRF field and a one-time key's field while a kept fragment is rendered: HTML
# comments no page contains.
_XSRF_MARK = Markup(f"<!--xsrf-{secrets.token_hex(8)}-->")
_KEY_MARK = Markup(f"<!--key-{secrets.token_hex(8)}-->")
_MARKS = re.compile(f"({re.escape(_XSRF_MARK)}|{re.escape(_KEY_MARK)})")

DEFAULT_LIMIT = 4096


class Fragments:
    """Rendered fragments by key; at most `limit` are kept, the oldest dropped first (limit 0: none
    kept, every fragment rendered afresh)."""

    def __init__(self, env: Environment, limit: int = DEFAULT_LIMIT) -> None:
        self._env = env
        self._limit = limit
        # The fragment's HTML split at each mark, the marks kept (at the odd places).
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
            html = self._env.get_template(template_name).render(context, xsrf_form_html=lambda: _XSRF_MARK,
                                                                idempotency_field=lambda: _KEY_MARK)
            parts = tuple(_MARKS.split(html))
            if self._limit > 0:
                if len(self._kept) >= self._limit:
                    del self._kept[next(iter(self._kept))]
                self._kept[key] = parts
        if len(parts) == 1:
            return Markup(parts[0])
        # The one-time key's field is the environment's global (handlers/rendering.py): fresh at each use.
        fill = {str(_XSRF_MARK): lambda: str(xsrf_form_html()),
                str(_KEY_MARK): lambda: str(self._env.globals["idempotency_field"]())}
        # str.join: Markup.join would escape the parts.
        return Markup("".join(fill[part]() if at % 2 else part for at, part in enumerate(parts)))
