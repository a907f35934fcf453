"""Configuration from the environment (prefix `ROOKERY_`)."""

from typing import Final

# The Withings app that `rookery sandbox` knows and `rookery serve` uses when none is configured,
# so that the two work together with no configuration. Never valid at the real Withings.
DEFAULT_WITHINGS_CLIENT_ID: Final = "rookery-sandbox-client"
DEFAULT_WITHINGS_CLIENT_SECRET: Final = "rookery-sandbox-secret"  # noqa: S105 - a public sandbox default
