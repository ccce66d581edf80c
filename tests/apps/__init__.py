"""Small apps that use the project the way its adopters' apps do, run by the integration tests."""
