"""Side-effecting measurements: sandboxed profiles of the user's function, scheduler probes."""
