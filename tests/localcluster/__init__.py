"""A real local Kubernetes control plane for development and tests.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from upstream Go modules,
with kwok playing the nodes and the pods' lifecycle, all as processes on 127.0.0.1. See
``python -m tests.localcluster --help`` and the README's "Local cluster" section.
"""
