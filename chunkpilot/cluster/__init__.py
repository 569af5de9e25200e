"""Clusters: connect or start one, read its resources, observe work, run trials."""
