"""Citizens' login: WeChat login, tokens and sessions, real-name verification, phone number, route guards."""
