"""Reports: the terminal (rich), and an offline HTML page with the dashboard's pictures."""
