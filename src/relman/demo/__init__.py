"""Demo material: the sample hello-service git repository that ``relman demo`` and the
integration tests deploy (see :mod:`relman.demo.sample_repo`)."""
