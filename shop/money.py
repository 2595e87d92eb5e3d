"""Money is integer cents everywhere; this turns cents into the text a shopper reads."""


def format_cents(cents: int) -> str:
    """Format an amount of cents as dollars, e.g. 1250 -> "$12.50", 123456 -> "$1,234.56"."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"
