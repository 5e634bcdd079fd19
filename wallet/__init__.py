"""Apple Wallet and Google Wallet passes: building, signing and pushing updates to members' cards."""
