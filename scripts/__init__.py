"""The absl binaries (installed as ``t2x.scripts``): parse flags, call the library, exit."""
