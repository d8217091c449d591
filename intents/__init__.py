"""The intent engine and dialog logic: pure Python, importing neither Sanic nor Tortoise."""
