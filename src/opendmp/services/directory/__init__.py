"""Professionals, organisations and the keys establishments sign with: registered on first
sight from trusted attributes."""
