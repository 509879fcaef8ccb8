"""A record's life: opening (online, at the desk, opt-out), the identity check, the notice,
closure, reactivation, destruction requests, and its access history."""
