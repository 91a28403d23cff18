"""Segments: a readable query language compiled to SQL, dynamic membership with history."""
