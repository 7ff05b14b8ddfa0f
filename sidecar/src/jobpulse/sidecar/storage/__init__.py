"""Storage: the one database every feature keeps its tables in, its migrations and the retention sweep."""
