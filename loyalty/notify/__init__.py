"""Outgoing messages: the outbox every channel's sender reads from."""
