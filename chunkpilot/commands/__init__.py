"""The public verbs, one module each: advise, tune, check, watch, demo."""
