"""Data: the synthetic nuScenes-format world, the devkit-backed index and the torch Dataset.

* :mod:`robobench.data.synth`   writes the synthetic world in the nuScenes format;
* :mod:`robobench.data.nusc`    opens a dataroot with the devkit and resolves splits;
* :mod:`robobench.data.index`   flat per-sample records, cached on disk;
* :mod:`robobench.data.dataset` the Dataset and ``collate`` producing the batch contract.

Submodules are imported on demand so that light commands do not pay for torch/OpenCV.
"""
