"""Layer 0: small value types shared by every domain. Imports nothing else of patron."""
