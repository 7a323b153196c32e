"""Distillation loss terms: pure functions of student outputs, teacher outputs and GT tensors.

* :mod:`baselines.distill.rayd3d` -- RayD3D: RCD (eq. 1-4), RWD (eq. 5-8), RES (eq. 9).
* :mod:`baselines.distill.tigdistill` -- TiGDistill-BEV: inner depth (eq. 1-4), inner feature
  (inter-channel eq. 5-6, inter-keypoint eq. 7-8).
* :mod:`baselines.distill.dense` -- dense BEV imitation (naive MSE, BEVDistill's foreground-weighted MSE).
* :mod:`baselines.distill.bev_sampling` -- the BEV geometry they share (rays, box masks,
  keypoints, bilinear sampling at ego points).

Every loss detaches its teacher inputs, so only the student receives gradients.
"""
