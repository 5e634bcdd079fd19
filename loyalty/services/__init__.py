"""Use cases. Each takes the session and explicit arguments, may flush, never commits."""
