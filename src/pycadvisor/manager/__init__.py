"""Discovery, the container map, housekeeping and queries."""
