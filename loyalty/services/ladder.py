"""The reward ladder: the offered rewards by cost as rungs, the next one to reach, and progress.

Every surface (member page, chat and SMS, wallet pass, till, back-office) shows the same
ladder, so its wording lives here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import LoyaltyMember, ProgramKind, Reward
from loyalty.services import reward_limits, rewards
from loyalty.services.reward_limits import LimitHit


@dataclass(frozen=True)
class Rung:
    reward: Reward
    reached: bool  # the spendable balance covers its cost
    used: LimitHit | None  # redeemed already as often as its limit allows
    out_of_stock: bool

    @property
    def open(self) -> bool:
        """Could be redeemed once the points are there."""
        return self.used is None and not self.out_of_stock

    @property
    def ready(self) -> bool:
        return self.open and self.reached

    @property
    def state(self) -> str:
        """used | out_of_stock | ready | ahead: what the page styles the rung as."""
        if self.used is not None:
            return "used"
        if self.out_of_stock:
            return "out_of_stock"
        return "ready" if self.reached else "ahead"


@dataclass(frozen=True)
class Ladder:
    balance: int
    rungs: list[Rung]

    @property
    def next(self) -> Rung | None:
        """The cheapest reward still to reach (rewards used up or out of stock are skipped)."""
        return next((r for r in self.rungs if r.open and not r.reached), None)

    @property
    def ready(self) -> list[Rung]:
        return [r for r in self.rungs if r.ready]

    @property
    def points_to_next(self) -> int:
        return self.next.reward.points_cost - self.balance if self.next else 0

    @property
    def progress_percent(self) -> int:
        """How far the balance is towards the next reward, 0–100 (100: nothing left to reach)."""
        if self.next is None:
            return 100
        return min(100, self.balance * 100 // self.next.reward.points_cost)

    @property
    def top(self) -> int:
        """The dearest reward's cost: the end of the progress scale on a full ladder."""
        return max((r.reward.points_cost for r in self.rungs), default=0)

    def headline(self) -> str | None:
        """One line for the wallet pass and the SMS: "Next reward: Croissant in 40 pts"."""
        upcoming = self.next
        if upcoming is not None:
            return f"Next reward: {upcoming.reward.name} in {self.points_to_next:,} pts"
        if self.ready:
            return f"Ready to redeem: {self.ready[-1].reward.name}"
        return None


def ladder_for(session: Session, *, member: LoyaltyMember, now: datetime | None = None) -> Ladder:
    now = now or utcnow()
    if member.program.kind == ProgramKind.STAMPS:
        return Ladder(balance=member.points_balance, rungs=[])  # the stamp grid is its ladder
    catalogue = rewards.offered_rewards(session, program=member.program)
    used = reward_limits.limit_hits(session, member=member, rewards=catalogue, now=now)
    balance = member.points_balance
    return Ladder(
        balance=balance,
        rungs=[
            Rung(
                reward=reward,
                reached=balance >= reward.points_cost,
                used=used.get(reward.id),
                out_of_stock=reward.stock is not None and reward.stock <= 0,
            )
            for reward in catalogue
        ],
    )
