from tests.serving.conftest import _fresh_plan_cache  # noqa: F401  (a fresh selector cache)
