"""The operations console's routes under /api/v1/admin, and its page at /admin."""
