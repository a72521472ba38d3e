"""Outside data -> Arrow tables in the store's schemas. One module per format; pure parsing.

Importing this package registers every source (see :func:`registered`).
"""

from aifinops.sources import aws_cur as _aws_cur  # noqa: F401  (registers "aws-cur")
from aifinops.sources import azure as _azure  # noqa: F401  (registers "azure")
from aifinops.sources import dcgm as _dcgm  # noqa: F401  (registers "dcgm")
from aifinops.sources import focus as _focus  # noqa: F401  (registers "focus")
from aifinops.sources import gcp as _gcp  # noqa: F401  (registers "gcp")
from aifinops.sources import jobs as _jobs  # noqa: F401  (registers "jobs")
from aifinops.sources import llm as _llm  # noqa: F401  (registers the LLM usage sources)
from aifinops.sources import metrics as _metrics  # noqa: F401  (registers "metrics")
from aifinops.sources import nvidia_smi as _nvidia_smi  # noqa: F401  (registers "nvidia-smi")
from aifinops.sources import nvidia_smi_apps as _nvidia_smi_apps  # noqa: F401  (registers "nvidia-smi-apps")
from aifinops.sources import oci as _oci  # noqa: F401  (registers "oci")
from aifinops.sources import onprem as _onprem  # noqa: F401  (registers "onprem")
from aifinops.sources import prometheus as _prometheus  # noqa: F401  (registers "prometheus")
from aifinops.sources import storage as _storage  # noqa: F401  (registers "storage")
from aifinops.sources.base import SourceSpec, registered

__all__ = ["SourceSpec", "registered"]
