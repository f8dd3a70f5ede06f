"""Supplier claims: the mirror of a buyer's case, claiming its cost back from the supplier."""
