"""Cases, legal tracks and their deadlines, queues, claims and decisions."""
