"""The assistant as a service: the engine's life cycle, chat sessions, and the reload protocol."""
