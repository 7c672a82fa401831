"""authdiag: explains why a request was refused."""
