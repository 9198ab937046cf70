"""Notices of every kind: user reports, public reports, TAKE IT DOWN requests, trusted flaggers,
law-enforcement requests and orders, and detections from scans."""
