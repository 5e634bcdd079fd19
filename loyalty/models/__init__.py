"""Every model, importable from one place so that Alembic and the services see the whole schema."""

from loyalty.models.access import MemberAccessToken as MemberAccessToken  # re-exported
from loyalty.models.analytics import DashboardSnapshot as DashboardSnapshot  # re-exported
from loyalty.models.api import ApiKey, ApiScope, IdempotencyRecord
from loyalty.models.audit import AuditLog
from loyalty.models.campaigns import (
    AutomationKey,
    AutomationSetting,
    Campaign,
    CampaignSchedule,
    CampaignStatus,
    Segment,
)
from loyalty.models.conversation import Conversation
from loyalty.models.fraud import AlertStatus, FraudAlert, FraudRule
from loyalty.models.imports import ImportStatus, MemberImport
from loyalty.models.jobs import JobOutcome, JobRun
from loyalty.models.ledger import LoyaltyTransaction, PointLot, TransactionType
from loyalty.models.member import (
    ChannelIdentity,
    ChannelKind,
    Customer,
    LoyaltyMember,
    MemberStatus,
)
from loyalty.models.merchant import (
    Membership,
    Merchant,
    MerchantStatus,
    Offering,
    Role,
    Shop,
    User,
)
from loyalty.models.outbox import OutboxChannel, OutboxMessage, OutboxStatus, SendSlot
from loyalty.models.program import (
    ExpiryPolicy,
    FraudAction,
    LoyaltyProgram,
    LoyaltyTier,
    ProgramKind,
    RefundShortfall,
    Rounding,
    StampPer,
)
from loyalty.models.promotions import Promotion, PromotionRedemption, PromotionType
from loyalty.models.referrals import Referral, ReferralStatus
from loyalty.models.rewards import (
    CUSTOM_REWARD_TYPES,
    RedemptionLimit,
    Reward,
    RewardType,
    Voucher,
    VoucherStatus,
)
from loyalty.models.staff_access import PasswordResetToken, StaffInvitation
from loyalty.models.wallet import AppleRegistration, WalletPass, WalletPlatform
from loyalty.models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "CUSTOM_REWARD_TYPES",
    "AlertStatus",
    "ApiKey",
    "ApiScope",
    "AppleRegistration",
    "AuditLog",
    "AutomationKey",
    "AutomationSetting",
    "Campaign",
    "CampaignSchedule",
    "CampaignStatus",
    "ChannelIdentity",
    "ChannelKind",
    "Conversation",
    "Customer",
    "ExpiryPolicy",
    "FraudAction",
    "FraudAlert",
    "FraudRule",
    "IdempotencyRecord",
    "ImportStatus",
    "JobOutcome",
    "JobRun",
    "LoyaltyMember",
    "LoyaltyProgram",
    "LoyaltyTier",
    "LoyaltyTransaction",
    "MemberImport",
    "MemberStatus",
    "Membership",
    "Merchant",
    "MerchantStatus",
    "Offering",
    "OutboxChannel",
    "OutboxMessage",
    "OutboxStatus",
    "PasswordResetToken",
    "PointLot",
    "ProgramKind",
    "Promotion",
    "PromotionRedemption",
    "PromotionType",
    "RedemptionLimit",
    "Referral",
    "ReferralStatus",
    "RefundShortfall",
    "Reward",
    "RewardType",
    "Role",
    "Rounding",
    "Segment",
    "SendSlot",
    "Shop",
    "StaffInvitation",
    "StampPer",
    "TransactionType",
    "User",
    "Voucher",
    "VoucherStatus",
    "WalletPass",
    "WalletPlatform",
    "WebhookDelivery",
    "WebhookEndpoint",
]
