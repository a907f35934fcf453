"""The Withings sandbox: a local, faithful stand-in for the Withings API with synthetic users."""
