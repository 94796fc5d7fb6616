"""Calls: folding a call's notifications into one truthful record."""
