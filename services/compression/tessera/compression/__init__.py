"""Tessera compression service."""
