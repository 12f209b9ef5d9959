"""Pure Block Kit builders, one module per surface; every id they use lives in `ids`."""
