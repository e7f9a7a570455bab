"""What every connector kind shares: the Source and Sink interfaces and the registry of kinds."""
