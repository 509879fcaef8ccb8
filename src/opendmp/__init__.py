"""OpenDMP: an open implementation of the French Dossier Médical Partagé."""

__version__ = "0.1.0"
