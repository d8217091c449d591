"""The plumbing every feature stands on: settings, database, Redis, errors, observability, background loops,
serving, rate limiting, the WeChat client, working days and security. It imports no feature."""
