"""robobench: robustness benchmark for multi-view camera BEV 3D detection.

The harness (data, registry, training, evaluation, metrics, sweep, store, CLI). Imports point
one way, from the commands down to the corruptions:

* ``corruptions``: the eight image corruptions (numpy), importing nothing of the project;
* the ``robobench`` core (``config``, ``io``, ``data``, ``metrics``, ``store``, ``registry``,
  ``train``, ``evaluate``, ``sweep``, ...), importing ``corruptions`` only;
* ``baselines``: the built-in entries, importing the core; the registry finds them through the
  ``robobench.entries`` entry point, never by import;
* ``leaderboard``: reads the core (the results store);
* the commands (``robobench.cli``, the modules in ``robobench.cli.COMMAND_MODULES``,
  ``leaderboard.cli``), which may import all of the above.

``tests/test_layers.py`` fails on an import against this direction.
"""

__version__ = "0.1.0"
