"""Sources of frames (a loaded instance through the sampler, a recording
through the replay) and the deltas between one reader's snapshots."""
