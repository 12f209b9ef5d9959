"""Vendor integrations, each behind a small Protocol from `integrations.base`."""
