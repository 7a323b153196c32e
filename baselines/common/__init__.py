"""Model parts shared by the built-in entries.

* :mod:`~baselines.common.backbone`: ResNet-18/34/50 layouts, FPN-lite neck, ``ImageEncoder``,
  ``load_backbone_weights`` (a user-supplied state dict).
* :mod:`~baselines.common.geometry`: ``BEVGrid``, ``DepthBins``, frustum lifting
  (``make_frustum``, ``frustum_to_ego``) and ``project_to_image``.
* :mod:`~baselines.common.bev_pool`: index precomputation and sparse BEV pooling (LSS splat).
* :mod:`~baselines.common.view_transformer`: ``LSSViewTransformer`` (optionally camera-aware)
  and BEVDepth's ``depth_loss``.
* :mod:`~baselines.common.bev_encoder`: ``BEVEncoder``.
* :mod:`~baselines.common.head`: ``CenterHead`` (targets, losses, decoding, circle NMS).
* :mod:`~baselines.common.attributes`: ``assign_attributes`` by class and speed.
* :mod:`~baselines.common.pillars`: ``PillarEncoder`` (dynamic PointPillars).
* :mod:`~baselines.common.detector`: ``CameraBEVDetector``, ``PillarBEVDetector``, ``warp_bev``.
* :mod:`~baselines.common.config`: the typed ``model`` sections (one place for every default).
* :mod:`~baselines.common.profiles`: the ``quick``/``full``/``large``/``nuscenes`` configurations.
"""
