"""The reference notebook's VGG16 (batch norm, global-average-pooling head) in
PyTorch, layer for layer as catdog's common/vgg.cc: the same 16,526,466
parameters and state-dict names for two classes."""
import math

import torch
from torch import nn


def scaled(channels, width):
    """catdog's channel count at a width multiplier (1.0: the reference)."""
    return max(1, int(math.floor(channels * width + 0.5)))


def conv_block(in_ch, channels, width=1.0):
    layers = []
    for out in (scaled(c, width) for c in channels):
        layers += [nn.Conv2d(in_ch, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        in_ch = out
    layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


class VGG16(nn.Module):
    def __init__(self, num_classes=2, width=1.0):
        super().__init__()
        s = lambda c: scaled(c, width)
        self.conv_block1 = conv_block(3, [64, 64], width)
        self.conv_block2 = conv_block(s(64), [128, 128], width)
        self.conv_block3 = conv_block(s(128), [256, 256, 512], width)
        self.conv_block4 = conv_block(s(512), [512, 512, 512], width)
        self.conv_block5 = conv_block(s(512), [512, 512, 512], width)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(s(512), s(64)), nn.BatchNorm1d(s(64)), nn.ReLU(),
                                        nn.Linear(s(64), num_classes))

    def forward(self, x):
        for block in (self.conv_block1, self.conv_block2, self.conv_block3, self.conv_block4,
                      self.conv_block5):
            x = block(x)
        return self.classifier(torch.flatten(self.avgpool(x), 1))
