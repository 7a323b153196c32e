"""robobench: robustness benchmark for multi-view camera BEV 3D detection.

The harness (data, registry, training, evaluation, metrics, sweep, store, CLI). Imports point
one way, from the commands down to the corruptions:

* ``corruptions``: the eight image corruptions (numpy), importing nothing of the project;
* the ``robobench`` core (``config``, ``io``, ``data``, ``metrics``, ``store``, ``registry``,
  ``train``, ``evaluate``, ``sweep``, ...), importing ``corruptions`` only;
* ``baselines``: the built-in entries, importing the core; the registry finds them through the
  ``robobench.entries`` entry point, never by import;
* ``leaderboard``: reads the core (the results store);
* ``robobench.api``: the library API (:func:`run_benchmark`, :func:`evaluate_results`,
  :func:`render_leaderboard`, ...), importing the core and ``leaderboard``;
* the commands (``robobench.cli`` and ``robobench.commands``), thin wrappers of the API, which may
  import all of the above.

``tests/project/test_layers.py`` fails on an import against this direction. The API's names are
re-exported here lazily (``robobench.run_benchmark`` loads ``robobench.api`` on first use), so
``import robobench`` stays cheap and the core never imports the API.
"""

__version__ = "0.1.0"

#: Names of :mod:`robobench.api` available as ``robobench.<name>``.
API_NAMES: tuple[str, ...] = (
    "BenchmarkResult",
    "DemoResult",
    "EntryCheck",
    "Evaluation",
    "ImportReport",
    "check_entries",
    "corrupt_dataset",
    "corruption_gallery",
    "evaluate_results",
    "export_results",
    "import_results",
    "list_entries",
    "plan_seeds",
    "predict_results",
    "render_leaderboard",
    "run_benchmark",
    "run_demo",
    "train_model",
)
__all__ = ["__version__", *API_NAMES]


def __getattr__(name: str) -> object:
    if name in API_NAMES:
        import importlib

        return getattr(importlib.import_module("robobench.api"), name)
    raise AttributeError(f"module 'robobench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API_NAMES})
