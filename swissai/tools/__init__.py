"""Developer tools shipped with swissai (doc generation, accuracy replays)."""
