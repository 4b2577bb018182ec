"""The absl binaries: thin wrappers that turn flags into one library call each."""
