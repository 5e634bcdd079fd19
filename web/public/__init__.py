"""Pages for customers: the front door, programme join pages and the member's card page."""
