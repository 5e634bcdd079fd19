"""The customer chat surface: Telegram bot, SMS keywords and a console simulator, over one dialogue."""
