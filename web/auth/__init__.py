"""Signing in and out, and choosing which business to work in."""
