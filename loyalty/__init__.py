"""Domain core of the loyalty platform: models, services and rules. Imports no web framework."""
