"""foryou: a TikTok-style "For You" feed built in batch on Spark and Delta Lake."""

__version__ = "0.1.0"
