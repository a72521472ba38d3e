"""The demo company's executors: the commands its policies act through (examples/policies/).

Real commands a user would configure; ``aifinops policy run`` without ``--execute`` only shows
them (the demo has no cloud to act on).
"""

from __future__ import annotations

EXECUTORS = """
# --- executors the example policies act through (examples/policies, docs/policies.md) ------
[executors.stop-ec2-instance]
type = "command"
argv = ["aws", "ec2", "stop-instances", "--region", "{resource.region}",
        "--instance-ids", "{resource.instance_id}"]
attempts = 3

[executors.delete-s3-prefix]
type = "command"
argv = ["aws", "s3", "rm", "{resource.url}", "--recursive"]
attempts = 2

[executors.delete-sagemaker-endpoint]
type = "command"
argv = ["aws", "sagemaker", "delete-endpoint", "--region", "{resource.region}",
        "--endpoint-name", "{resource.name}"]
attempts = 2
"""
