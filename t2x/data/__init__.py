"""Data floor: encoders, generator utilities, downloads and the problem bases."""
