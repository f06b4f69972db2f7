"""Tessera graph service."""
