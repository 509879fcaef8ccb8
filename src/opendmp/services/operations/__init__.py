"""Operations: retention and destruction, key rotation, orphan-blob reaping, readiness."""
