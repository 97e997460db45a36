"""Project-authored tables (registry of external files, published figures), shipped as package data."""
