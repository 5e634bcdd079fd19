"""Local stand-ins for outside services (APNs, Google Wallet), listening on 127.0.0.1 only."""
