"""Money is integer cents everywhere; this turns cents into the text a shopper reads."""


def format_cents(cents: int) -> str:
    """Format an amount of cents as dollars, e.g. 1250 -> "$12.50", 123456 -> "$1,234.56"."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


CURRENCY_CODE = "USD"


def format_price(cents: int) -> str:
    """A price as shown beside a product or a total, with its currency's code, as Shopify's Dawn
    shows prices when the shop sells abroad: 1250 -> "$12.50 USD"."""
    return f"{format_cents(cents)} {CURRENCY_CODE}"
