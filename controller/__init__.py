"""The HiClaw domain: resources, manifests, reconcilers, backends, clients and services."""
