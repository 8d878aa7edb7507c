"""SRGAN discriminator (Ledig et al., CVPR 2017), key names as the published SRGAN/iSeeBetter code."""

from __future__ import annotations

from torch import Tensor, nn

# (in, out, stride) of the conv+BN+LeakyReLU blocks after the first conv.
_BLOCKS = [(64, 64, 2), (64, 128, 1), (128, 128, 2), (128, 256, 1), (256, 256, 2), (256, 512, 1), (512, 512, 2)]


class Discriminator(nn.Module):
    """One score in (0, 1) per image: the probability that it is a real high-resolution frame."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, padding=1), nn.LeakyReLU(0.2)]
        for cin, cout, stride in _BLOCKS:
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(512, 1024, 1), nn.LeakyReLU(0.2), nn.Conv2d(1024, 1, 1)]
        self.net = nn.Sequential(*layers)

    def logits(self, x: Tensor) -> Tensor:
        """Scores before the sigmoid, (B,); the numerically safe input for BCE-with-logits losses."""
        return self.net(x).view(x.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(x).sigmoid()
