"""A small Bot API server of our own, for testing the gateway without Telegram."""
