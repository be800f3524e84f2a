"""Research at scale: many replays (windows x symbols x settings x seeds) run in parallel."""
