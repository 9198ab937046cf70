"""Reports to authorities: the NCMEC CyberTipline, DSA Art. 18 notifications, law-enforcement requests."""
