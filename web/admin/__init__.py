"""The platform operator's pages: every merchant, their offering and their usage."""
