"""The operations console's domain code: audit log, staff sign-in, governed intents, learning, hand-off."""
