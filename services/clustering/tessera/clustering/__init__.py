"""Tessera clustering service."""
