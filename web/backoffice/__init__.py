"""The back-office: where owners and managers run their programme."""
