"""Shipped, trained presets: small RNAN models for every task (see ``presets.json``)."""
