"""The interfaces people use: the command line now; the HTTP API and map page later."""
