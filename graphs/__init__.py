"""Graph library: builds and analyses networkx graphs from plain rows (never opens a database)."""
