"""A user's Withings connection: OAuth linking, tokens, subscriptions and unlinking."""
