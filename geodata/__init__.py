"""Demo data for the Community Safety Map: the seeded generator and the files it writes."""
