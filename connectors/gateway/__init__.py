"""FastAPI gateway: the only public entry point. Channels -> safety check -> Rasa -> bot messages."""
