"""One plain `run(cfg)` per command-line verb; tests call these with Hydra's compose API."""
