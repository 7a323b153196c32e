"""robobench: robustness benchmark for multi-view camera BEV 3D detection.

The harness (data, registry, training, evaluation, metrics, sweep, store, CLI).
Dependencies point one way: ``baselines -> robobench -> corruptions``.
"""

__version__ = "0.1.0"
