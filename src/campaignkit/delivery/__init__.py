"""Delivery: rendering templates, running campaigns, reporting."""
