"""`qp`: the one command-line entry point, one module per command group."""
