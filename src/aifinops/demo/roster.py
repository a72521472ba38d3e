"""Who Kestrel AI is, in numbers: accounts, pools, commitments and monthly charges.

Sizes are for ``scale=1`` (about 200k rows over three months, about $1.5M a month at list):

* AWS is the main cloud: a p4d fine-tuning fleet under a Compute Savings Plan (one node retired
  before the plan ends: unused commitment), the p5 pre-training cluster that starts a third of the
  way in (spend grows), a runaway p5 ablation job in the last month (a planted anomaly, like the
  others in ``demo/anomalies.py``), g5 inference and search fleets, developer boxes in office
  hours (weekends lower), forgotten and idle boxes, SageMaker endpoints, S3, shared networking,
  Bedrock, and a Marketplace SaaS.
* Azure runs H100 VMs under a one-year reservation bought in the first month, A100 boxes, Azure
  OpenAI and Blob Storage.
* GCP runs A3 machines under a committed-use discount, an L4 inference fleet with a sustained-use
  style credit, Vertex AI Gemini, Cloud Storage and egress.
"""

from __future__ import annotations

from decimal import Decimal

from aifinops.demo.anomalies import dropped_pools, planted
from aifinops.demo.company import (
    Account,
    Commitment,
    Company,
    InstancePool,
    MeterPool,
    MonthlyCharge,
    Owner,
    Provider,
    Schedule,
)
from aifinops.demo.company import TagStyle as S
from aifinops.demo.timeline import Mask
from aifinops.model.focus import FocusVersion

PAYER = "381492057716"
AZURE_ACCOUNT = (
    "/providers/Microsoft.Billing/billingAccounts/7c2f9a1e-5b3d-4e8f-a6c1-2d9b0e4f7a83:"
    "3f8e2b1c-9d4a-4c7e-b5f6-1a0e3d2c9b74_2019-05-31/billingProfiles/KX4R-7TQP-BG7-PGB"
)

_ON_FEES = frozenset({"support", "marketplace"})  # AWS: sales tax on support and SaaS only
_ON_ALL = frozenset({"usage", "purchase"})
PROVIDERS = {
    "aws": Provider(
        "aws", "AWS", "aws", FocusVersion.V1_2, "parquet", PAYER, "Kestrel AI - Payer",
        "Payer Account", "Linked Account", ("us-east-1", "US East (N. Virginia)"),
        ("us-east-1a", "us-east-1b", "us-east-1c"), Decimal(0), Decimal("0.0625"), _ON_FEES, None,
    ),
    "azure": Provider(
        "azure", "Microsoft", "azure", FocusVersion.V1_0, "csv.gz", AZURE_ACCOUNT,
        "Kestrel AI, Inc.", "Billing Profile", "Subscription", ("eastus", "East US"),
        ("1", "2", "3"), Decimal("0.05"), Decimal("0.03"), _ON_ALL, "{}",
    ),
    "gcp": Provider(
        "gcp", "Google Cloud", "gcp", FocusVersion.V1_3, "csv", "01F3A7-9C2B4D-6E8A05",
        "Kestrel AI GCP", "Billing Account", "Project", ("us-central1", "Iowa"),
        ("us-central1-a", "us-central1-b", "us-central1-c"), Decimal(0), Decimal("0.025"),
        _ON_ALL, "{}",
    ),
}  # fmt: skip

_SUB = "/subscriptions/"
ACCOUNTS = (
    Account("aws-payer", "aws", PAYER, "kestrel-payer"),
    Account("aws-research", "aws", "573920184466", "kestrel-research"),
    # Leading zero: a reader that takes account ids for numbers turns it into 49217735108.
    Account("aws-training", "aws", "049217735108", "kestrel-training", ("account-leading-zero",)),
    Account("aws-inference", "aws", "618305927741", "kestrel-inference-prod"),
    Account("aws-data", "aws", "237781904352", "kestrel-data"),
    Account("aws-dev", "aws", "902146638815", "kestrel-dev-sandbox"),
    Account("aws-shared", "aws", "755021369148", "kestrel-shared-services"),
    Account("az-prod", "azure", f"{_SUB}5f1c3a9e-2b7d-4d41-9a8e-3c6f0b2e7d15", "kestrel-ml-prod"),
    Account("az-research", "azure", f"{_SUB}a83d0c47-61f2-4b9e-8d15-7e2c9f04b6a1", "kestrel-rnd"),
    Account("az-shared", "azure", f"{_SUB}0e9b7a25-c4d8-4f13-b6a0-58d1e3f72c94", "kestrel-shared"),
    Account("gcp-search", "gcp", "kestrel-search-prod", "kestrel-search-prod"),
    Account("gcp-vertex", "gcp", "kestrel-vertex-prod", "kestrel-vertex-prod"),
    Account("gcp-research", "gcp", "kestrel-research-gcp", "kestrel-research-gcp"),
    # A project known only by its number: CSV readers infer an integer column.
    Account("gcp-legacy", "gcp", "731904458812", "731904458812", ("account-numeric",)),
)  # fmt: skip

_7B = "kestrel-7b"
FINETUNE = Owner("research", "llm-7b-finetune", "prod", _7B)
PRETRAIN = Owner("training-platform", "llm-7b-pretrain", "prod", _7B)
ABLATION = Owner("research", "llm-13b-ablation", "dev", "kestrel-13b")
CHAT = Owner("inference", "chat-assistant", "prod", "kestrel-7b-chat")
RERANK = Owner("search", "reranker-v3", "prod", "reranker-v3")
SEMANTIC = Owner("search", "semantic-search", "prod", "embed-v2")
FRAUD = Owner("product-ml", "fraud-gbm", "prod", "fraud-gbm")
FRAUD_TRAIN = Owner("product-ml", "fraud-gbm", "staging", "fraud-gbm")
SUPPORT_BOT = Owner("product-ml", "support-bot", "prod", "gpt-4o-mini")
DEV_BOXES = Owner("research", "sandbox", "dev")
RLHF = Owner("research", "rlhf-experiments", "staging", "kestrel-7b-rlhf")
EVAL = Owner("research", "llm-7b-eval", "staging", _7B)
DATASETS = Owner("data-platform", "datasets", "prod")
FEATURES = Owner("data-platform", "feature-store", "prod")
PLATFORM = Owner("platform", "shared-infra", "prod")

INSTANCES = (
    InstancePool("aws-p4d-finetune", "aws", "aws-research", "p4d.24xlarge", 6, FINETUNE,
                 "p4d-finetune", commitment="aws-sp"),
    InstancePool("aws-p4d-retired", "aws", "aws-research", "p4d.24xlarge", 1, FINETUNE,
                 "p4d-finetune-old", Schedule(end=0.85), commitment="aws-sp"),
    InstancePool("aws-p5-pretrain", "aws", "aws-training", "p5.48xlarge", 16, PRETRAIN,
                 "p5-pretrain", Schedule(start=0.2, jitter=6),
                 (S.CANONICAL, S.CANONICAL, S.CANONICAL, S.KUBERNETES)),
    InstancePool("aws-p5-runaway", "aws", "aws-research", "p5.48xlarge", 8, ABLATION,
                 "p5-ablation", Schedule(last_month_days=(9, 25)), (S.VALUE_CASE,)),
    InstancePool("aws-g5-chat", "aws", "aws-inference", "g5.12xlarge", 10, CHAT, "g5-chat",
                 styles=(S.CANONICAL, S.CANONICAL, S.TEAM_TITLE), commitment="aws-sp"),
    InstancePool("aws-g5-rerank", "aws", "aws-inference", "g5.xlarge", 16, RERANK, "g5-rerank",
                 styles=(S.CANONICAL, S.TEAM_UPPER, S.KUBERNETES)),
    InstancePool("aws-g5-rerank-burst", "aws", "aws-inference", "g5.xlarge", 8, RERANK,
                 "g5-rerank-burst", Schedule(mask=Mask.WEEKDAYS), (S.KUBERNETES,)),
    InstancePool("aws-g5-embed", "aws", "aws-inference", "g5.48xlarge", 2, SEMANTIC, "g5-embed",
                 styles=(S.PROJECT_NAME,)),
    InstancePool("aws-g5-dev", "aws", "aws-dev", "g5.xlarge", 10, DEV_BOXES, "dev-gpu",
                 Schedule(mask=Mask.OFFICE), (S.CANONICAL, S.VALUE_CASE, S.PARTIAL)),
    InstancePool("aws-g5-forgotten", "aws", "aws-dev", "g5.xlarge", 3, None, "scratch-gpu",
                 styles=(S.NAME_ONLY,)),
    InstancePool("aws-g5-idle", "aws", "aws-dev", "g5.48xlarge", 1, None, "gpu-sandbox-old",
                 styles=(S.NAME_ONLY,)),
    InstancePool("aws-g5-fraud-train", "aws", "aws-data", "g5.12xlarge", 2, FRAUD_TRAIN,
                 "fraud-train", Schedule(mask=Mask.WEEKDAYS)),
    InstancePool("aws-sm-fraud", "aws", "aws-inference", "ml.g5.2xlarge", 4, FRAUD,
                 "fraud-gbm-endpoint", service="sagemaker"),
    InstancePool("az-nd-serve", "azure", "az-prod", "Standard_ND96isr_H100_v5", 1, CHAT,
                 "nd-h100-serve", styles=(S.TEAM_TITLE,), commitment="az-ri"),
    InstancePool("az-nd-research", "azure", "az-research", "Standard_ND96isr_H100_v5", 1, RLHF,
                 "nd-h100-rlhf", Schedule(end=0.8), (S.CANONICAL,), commitment="az-ri"),
    InstancePool("az-nd-payg", "azure", "az-research", "Standard_ND96isr_H100_v5", 2, RLHF,
                 "nd-h100-adhoc", Schedule(start=0.15, end=0.9, jitter=48),
                 (S.TEAM_TITLE, S.NONE)),
    InstancePool("az-nc-fraud", "azure", "az-prod", "Standard_NC24ads_A100_v4", 3, FRAUD_TRAIN,
                 "nc-a100-fraud", Schedule(mask=Mask.WEEKDAYS), (S.VALUE_CASE,)),
    InstancePool("gcp-a3-cud", "gcp", "gcp-search", "a3-highgpu-8g", 2, SEMANTIC, "a3-embed",
                 commitment="gcp-cud"),
    InstancePool("gcp-a3-eval", "gcp", "gcp-research", "a3-highgpu-8g", 2, EVAL, "a3-eval",
                 Schedule(start=0.5, end=0.78, jitter=24), (S.PROJECT_NAME,)),
    InstancePool("gcp-g2-serve", "gcp", "gcp-search", "g2-standard-8", 12, SEMANTIC, "g2-serve",
                 styles=(S.CANONICAL, S.CANONICAL, S.PARTIAL), sud_credit=Decimal("0.2")),
    InstancePool("gcp-g2-legacy", "gcp", "gcp-legacy", "g2-standard-8", 2, None, "instance",
                 styles=(S.NONE,), sud_credit=Decimal("0.2")),
)  # fmt: skip

METERS = (
    MeterPool("aws-s3-checkpoints", "aws", "aws-training", "s3-over-500tb", 1, 53_000, PRETRAIN,
              "kestrel-checkpoints", growth=0.12, sigma=0.01),
    MeterPool("aws-s3-datasets", "aws", "aws-data", "s3-next-450tb", 2, 10_000, DATASETS,
              "kestrel-datasets", growth=0.04, sigma=0.01, styles=(S.CANONICAL, S.TEAM_TITLE)),
    MeterPool("aws-s3-logs", "aws", "aws-shared", "s3-next-450tb", 1, 6_000, None, "kestrel-logs",
              growth=0.06, sigma=0.01, styles=(S.NONE,)),
    MeterPool("aws-s3-models", "aws", "aws-inference", "s3-first-50tb", 1, 850, CHAT,
              "kestrel-model-registry", growth=0.05, sigma=0.01),
    MeterPool("aws-s3-put", "aws", "aws-training", "s3-put", 1, 40_000_000, PRETRAIN,
              "kestrel-checkpoints", growth=0.3, sigma=0.3),
    MeterPool("aws-egress", "aws", "aws-shared", "aws-egress", 1, 4_000, None, None,
              growth=0.05, weekend=0.6, sigma=0.15, styles=(S.NONE,)),
    MeterPool("aws-inter-az", "aws", "aws-shared", "aws-inter-az", 1, 20_000, None, None,
              growth=0.2, sigma=0.25, styles=(S.NONE,)),
    MeterPool("aws-nat-hours", "aws", "aws-shared", "aws-nat-hours", 6, 24, None, "nat",
              sigma=0.0, styles=(S.NONE,)),
    MeterPool("aws-nat-bytes", "aws", "aws-shared", "aws-nat-bytes", 6, 170, None, "nat",
              weekend=0.7, sigma=0.2, styles=(S.NONE,)),
    MeterPool("aws-claude-in", "aws", "aws-inference", "bedrock-claude-in", 1, 250_000, CHAT,
              None, growth=0.1, weekend=0.7, sigma=0.12),
    MeterPool("aws-claude-out", "aws", "aws-inference", "bedrock-claude-out", 1, 35_000, CHAT,
              None, growth=0.1, weekend=0.7, sigma=0.12),
    MeterPool("aws-llama-in", "aws", "aws-data", "bedrock-llama-in", 1, 120_000, SUPPORT_BOT,
              None, weekend=0.5, sigma=0.2, styles=(S.TEAM_UPPER,)),
    MeterPool("aws-llama-out", "aws", "aws-data", "bedrock-llama-out", 1, 20_000, SUPPORT_BOT,
              None, weekend=0.5, sigma=0.2, styles=(S.TEAM_UPPER,)),
    MeterPool("aws-titan", "aws", "aws-inference", "bedrock-titan-embed", 1, 1_500_000, SEMANTIC,
              None, growth=0.05, sigma=0.3),
    MeterPool("aws-lumenlog", "aws", "aws-inference", "lumenlog-spans", 1, 80, None, None,
              growth=0.08, weekend=0.7, sigma=0.1, styles=(S.NONE,)),
    MeterPool("az-gpt4o-in", "azure", "az-prod", "aoai-gpt4o-in", 1, 150_000, CHAT, "aoai-chat",
              growth=0.05, weekend=0.7, styles=(S.TEAM_TITLE,), messy=("usage-based",)),
    MeterPool("az-gpt4o-out", "azure", "az-prod", "aoai-gpt4o-out", 1, 30_000, CHAT, "aoai-chat",
              growth=0.05, weekend=0.7, styles=(S.TEAM_TITLE,), messy=("usage-based",)),
    MeterPool("az-mini-in", "azure", "az-prod", "aoai-mini-in", 1, 1_000_000, SUPPORT_BOT,
              "aoai-support", weekend=0.5, styles=(S.VALUE_CASE,), messy=("usage-based",)),
    MeterPool("az-mini-out", "azure", "az-prod", "aoai-mini-out", 1, 120_000, SUPPORT_BOT,
              "aoai-support", weekend=0.5, styles=(S.VALUE_CASE,)),
    MeterPool("az-embed", "azure", "az-prod", "aoai-embed", 1, 500_000, SEMANTIC, "aoai-search",
              sigma=0.3),
    MeterPool("az-blob-datasets", "azure", "az-research", "blob-hot-lrs", 1, 8_300, DATASETS,
              "kestreldatasets", growth=0.05, sigma=0.01),
    MeterPool("az-blob-scratch", "azure", "az-shared", "blob-hot-lrs", 1, 2_000, None,
              "kestrelscratch", growth=0.1, sigma=0.01, styles=(S.NONE,)),
    MeterPool("gcp-flash-in", "gcp", "gcp-vertex", "gemini-flash-in", 1, 400_000_000, SEMANTIC,
              None, growth=0.15, weekend=0.8),
    MeterPool("gcp-flash-out", "gcp", "gcp-vertex", "gemini-flash-out", 1, 40_000_000, SEMANTIC,
              None, growth=0.15, weekend=0.8),
    MeterPool("gcp-pro-in", "gcp", "gcp-vertex", "gemini-pro-in", 1, 50_000_000, SUPPORT_BOT,
              None, weekend=0.5, styles=(S.PROJECT_NAME,)),
    MeterPool("gcp-pro-out", "gcp", "gcp-vertex", "gemini-pro-out", 1, 5_000_000, SUPPORT_BOT,
              None, weekend=0.5, styles=(S.PROJECT_NAME,)),
    MeterPool("gcp-gcs-index", "gcp", "gcp-search", "gcs-standard", 2, 2_000, SEMANTIC,
              "kestrel-search-index", growth=0.05, sigma=0.01),
    MeterPool("gcp-gcs-legacy", "gcp", "gcp-legacy", "gcs-standard", 1, 1_300, None,
              "legacy-exports", sigma=0.01, styles=(S.NONE,)),
    MeterPool("gcp-egress", "gcp", "gcp-search", "gcp-egress", 1, 1_400, None, None,
              growth=0.05, weekend=0.6, sigma=0.15, styles=(S.NONE,), messy=("null-text",)),
    MeterPool("gcp-inter-zone", "gcp", "gcp-search", "gcp-inter-zone", 1, 6_000, None, None,
              sigma=0.2, styles=(S.NONE,), messy=("null-text",)),
)  # fmt: skip

COMMITMENTS = (
    Commitment("aws-sp", "aws", "aws-shared",
               f"arn:aws:savingsplans::{PAYER}:savingsplan/3f5b8c1e-7a2d-4e90-b6c4-91d2e8a07f35",
               "ComputeSavingsPlan-1yr-PartialUpfront", "Savings Plan", "Spend",
               Decimal("0.70"), "partial-upfront", recurring=Decimal("0.5")),
    Commitment("az-ri", "azure", "az-shared",
               "/providers/Microsoft.Capacity/reservationOrders/9d3e6f21-4b8a-4c57-a0e2-6f1b3d9c8a47"
               "/reservations/2a7c5e90-1f3b-4d68-b9e4-c0d2a8f61e53",
               "ND96isr H100 v5, East US, 1 year", "Reservation", "Usage", Decimal("0.63"),
               "all-upfront"),
    Commitment("gcp-cud", "gcp", "gcp-search",
               "projects/kestrel-search-prod/regions/us-central1/commitments/a3-h100-1yr",
               "a3-h100-1yr", "Committed Use Discount", "Usage", Decimal("0.63"), "monthly"),
)  # fmt: skip

_SUPPORT = ("AWS Support (Business)", "Management and Governance", "Support")
_LUMENLOG = ("Lumenlog LLM Observability", "Management and Governance", "Observability")
_EC2 = ("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines")
MONTHLY = (
    MonthlyCharge("aws-support", "aws", "aws-payer", "support",
                  description="AWS Support (Business)", service=_SUPPORT),
    MonthlyCharge("aws-lumenlog-fee", "aws", "aws-inference", "subscription", Decimal(9000),
                  "Lumenlog LLM Observability - Team plan, monthly platform fee", _LUMENLOG,
                  publisher="Lumenlog, Inc."),
    MonthlyCharge("aws-credit", "aws", "aws-payer", "credit", Decimal(20000),
                  "AWS Promotional Credit - GenAI accelerator program", _EC2),
    MonthlyCharge("aws-tax", "aws", "aws-payer", "tax", description="Sales tax"),
    MonthlyCharge("az-tax", "azure", "az-shared", "tax", description="Tax"),
    MonthlyCharge("gcp-tax", "gcp", "gcp-search", "tax", description="Sales tax"),
)  # fmt: skip


UNREADABLE_ROWS_IN = "azure"  # whose most recent month carries the planted unreadable rows


def build_company(*, seed: int = 42, scale: float = 1.0, anomalies: bool = True) -> Company:
    """The company; ``anomalies=False`` leaves out the planted anomalies (demo/anomalies.py)."""
    dropped = dropped_pools(anomalies)
    return Company(
        providers=PROVIDERS,
        accounts={a.key: a for a in ACCOUNTS},
        instances=tuple(p for p in INSTANCES if p.key not in dropped),
        meters=METERS,
        commitments={c.key: c for c in COMMITMENTS},
        monthly=MONTHLY,
        scale=scale,
        seed=seed,
        planted=planted(anomalies),
    )
