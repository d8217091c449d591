"""Notifications: the outbox, the delivery worker, WeChat subscribe and template messages, WebSocket push."""
