"""Telegram gateway: python-telegram-bot in front of Rasa and the case services."""
