"""Patient portal accounts: credentials, sign-in with password and TOTP, password reset,
portal sessions and the shared rate limits."""
