"""Hash exchanges: industry hash lists fetched into banks through python-threatexchange."""
