"""Metrics of the benchmark.

* :mod:`robobench.metrics.detection`: NDS, mAP and TP errors equal to the devkit's
  ``DetectionEval``, vectorised; small-class and distance-range breakdowns.
* :mod:`robobench.metrics.robustness`: RR, mRR, CE, mCE (RoboBEV definitions).
* :mod:`robobench.metrics.depth`: AbsRel, SqRel, RMSE, RMSE log, SILog, log10, delta
  accuracies, streamed per view.

Import the submodules directly; this package imports nothing so that the light
modules (robustness) do not pay for the devkit import.
"""
