"""The numbers the paper reports (Jia, Lam, Xu 2021), for side-by-side report columns.

Accuracies in percent, as printed in the paper; keys match ablate's names (backbones as
registered, classes as in the scenarios).
"""

from __future__ import annotations

__all__ = ["PAPER"]

PAPER: dict[str, dict] = {
    # Table 2: CXR-5 test accuracy (%), original backbones
    "table2": {"vgg16": 93.9, "inception_v3": 96.9, "resnet18": 96.5, "densenet121": 98.8,
               "squeezenet1_0": 94.9, "mobilenet_v3_small": 98.8},
    # Table 2: Params (MB: fp32 bytes of the weights), original backbones, 5 classes
    "table2_params_mb": {"vgg16": 537.0, "inception_v3": 87.4, "resnet18": 44.8, "densenet121": 28.2,
                         "squeezenet1_0": 3.0, "mobilenet_v3_small": 6.7},
    # Table 4: 5-fold validation accuracy (%) and the test accuracy of the best fold
    "table4": {"folds": [99.1, 98.7, 98.8, 99.1, 99.2], "test": 99.6},
    # Table 5: test accuracy (%), (modified, original) MobileNetV3-small per scenario
    "table5": {"cxr5": (99.6, 98.8), "cxr4": (99.9, 99.1), "cxr3": (99.7, 99.6)},
    # Table 6: modified MobileNet on CXR-5 test: (precision, sensitivity, F1), support 200 each
    "table6": {"covid": (1.000, 1.000, 1.000), "tuberculosis": (1.000, 1.000, 1.000),
               "bacterial_pneumonia": (0.995, 0.995, 0.995), "normal": (0.985, 1.000, 0.993),
               "viral_pneumonia": (0.995, 0.980, 0.987)},
    # Tables 7-9 (COVIDx): params (M), accuracy (%), sensitivity and precision (%) per class
    "covidx": {"COVID-Net": {"params": 11.8, "acc": 93.3, "sensitivity": (91.0, 94.0, 95.0), "precision": (98.9, 91.3, 90.5)},
               "modified mobilenet_v3_small": {"params": 7.1, "acc": 95.0, "sensitivity": (96.0, 92.0, 97.0), "precision": (99.0, 95.0, 92.0)},
               "class_order": ("covid", "pneumonia", "normal")},
    # Table 10: COVIDx-CT test accuracy (%), original backbones
    "table10": {"vgg16": 97.80, "inception_v3": 98.59, "resnet18": 98.47, "densenet121": 96.30,
                "squeezenet1_0": 94.38, "mobilenet_v3_small": 96.79},
    # Tables 12-14 (COVIDx-CT)
    "covidx_ct": {"COVIDNet-CT": {"params": "447.6 K", "acc": 97.9, "sensitivity": (95.7, 98.1, 98.9), "precision": (96.4, 97.0, 99.3)},
                  "modified resnet18": {"params": "44.9 MB", "acc": 99.3, "sensitivity": (99.2, 99.8, 99.1), "precision": (98.6, 99.4, 99.7)},
                  "class_order": ("covid", "pneumonia", "normal")},
    # Table 15: noise form 1 (n = 1), accuracy (%) (original, modified) per m
    "table15": {1: (97.72, 98.58), 3: (95.45, 97.22), 5: (73.92, 87.95), 7: (32.62, 69.37), 10: (19.60, 46.53)},
    # Table 16: noise form 2 (m = 2), accuracy (%) (original, modified) per n
    "table16": {0.5: (83.0, 87.8), 0.7: (92.4, 95.7), 0.9: (97.7, 98.5), 1.1: (98.2, 99.1), 1.3: (97.3, 97.6)},
    # Fig. 6: |gradient| of the first eight conv layers, (mean, variance)
    "fig6": {"original": (0.037, 0.002), "modified": (0.547, 0.551)},
}
