"""How many blocks to ask ``eth_getLogs`` for at once.

Too small a range wastes round trips on empty blocks; too large a one makes providers refuse
(most cap a response at 10,000 logs or a block span) and makes one database transaction huge.
The range therefore aims at ``target_logs`` logs: after each range it is rescaled to the
density just seen (growing at most twofold per step), and halved when the node refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AdaptiveRange"]


@dataclass
class AdaptiveRange:
    size: int = 2_000
    minimum: int = 1
    maximum: int = 100_000
    target_logs: int = 5_000

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError("need 1 <= minimum <= maximum")
        self.size = self._clamp(self.size)

    def _clamp(self, size: float) -> int:
        return max(self.minimum, min(self.maximum, int(size)))

    def end(self, start: int, limit: int) -> int:
        """The last block of the next range starting at ``start``, not beyond ``limit``."""
        return min(limit, start + self.size - 1)

    def observed(self, blocks: int, logs: int) -> None:
        """Rescales after a range of ``blocks`` blocks returned ``logs`` logs."""
        ideal = self.size * 2 if logs == 0 else blocks * self.target_logs / logs
        self.size = self._clamp(min(ideal, self.size * 2))

    def refused(self, blocks: int) -> bool:
        """Halves after the node refused a range of ``blocks``; False when it cannot shrink further."""
        if blocks <= self.minimum:
            return False
        self.size = self._clamp(blocks // 2)
        return True
