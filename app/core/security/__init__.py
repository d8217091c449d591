"""Identity and secrets: ID-number rules, encryption of personal information, tokens."""
