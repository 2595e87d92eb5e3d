"""The shop's thin Tornado handlers, one module per area; base.py holds what every page needs."""
