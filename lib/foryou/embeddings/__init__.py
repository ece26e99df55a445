"""Item and user embeddings: collaborative vectors from implicit feedback (Spark ML ALS on
engagement strength) and content vectors mapped into the same space for items nobody has
interacted with yet. ``train.train_embeddings`` runs one run date; ``strength`` and
``content`` hold its parts so tests and notebooks can call them alone.
"""
