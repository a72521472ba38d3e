"""The resource kinds policies judge; importing this package registers them all."""

from aifinops.policy.resources import budget, gpu, inference, jobs, llm, storage

__all__ = ["budget", "gpu", "inference", "jobs", "llm", "storage"]
