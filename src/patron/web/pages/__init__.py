"""One module per area of the app; each exposes `router`."""
