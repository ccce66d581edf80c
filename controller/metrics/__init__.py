"""Prometheus metrics of the operator: pure decisions (labels, observations, snapshot) apart
from the prometheus_client objects (registry) and the HTTP endpoint (server)."""
