"""Thin task wrappers: build the right service from shared resources and call it. No business logic."""
