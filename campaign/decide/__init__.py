"""Decision logic: hard facets, the gate, seeding, the compute-dtype rule, campaign state. No Ray, no torch."""
