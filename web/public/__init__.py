"""Pages anyone may open: the front door now, programme join pages later."""
