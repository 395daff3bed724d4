"""Deployment-shape tests: the platform's processes as they run on separate hosts."""
