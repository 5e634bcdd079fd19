"""Campaign, segment and automation pages: the editor and its errors, the live count and preview,
the confirmations, progress JSON, test send, and Basic merchants refused."""

from __future__ import annotations

from sqlalchemy import func, select

from loyalty.models import (
    Campaign,
    CampaignStatus,
    ChannelKind,
    Offering,
    OutboxMessage,
    Segment,
)
from tests import factories

FORM = {
    "name": "Spring",
    "segment_id": "",
    "channel_1": "sms",
    "channel_2": "",
    "channel_3": "",
    "message": "Hi {first_name}, you have {points} points.",
    "schedule": "now",
    "save": "Save",
}


def reachable_member(session, tenant):
    member = factories.make_member(session, tenant)
    factories.add_channel(session, member, ChannelKind.SMS, f"+3526219{member.id:05d}")
    member.customer.consents = {"marketing_sms": {"granted": True}}
    session.flush()
    return member


def test_campaign_is_written_sent_paused_and_cancelled_through_the_pages(
    client, login_as, session, tenant
):
    reachable_member(session, tenant)
    login_as(factories.make_user(session, tenant))
    answer = client.post("/backoffice/campaigns/new", data=FORM)
    assert answer.status_code == 302
    campaign = session.scalars(select(Campaign)).one()
    page = client.get(f"/backoffice/campaigns/{campaign.id}")
    assert b"Send now" in page.data
    assert b"1 SMS part" in page.data

    confirm = client.get(f"/backoffice/campaigns/{campaign.id}/start")
    assert b"The segment has <strong>1</strong> member" in confirm.data
    assert client.post(f"/backoffice/campaigns/{campaign.id}/start").status_code == 302
    session.refresh(campaign)
    assert campaign.status == CampaignStatus.RUNNING
    progress = client.get(f"/backoffice/campaigns/{campaign.id}/progress.json").get_json()
    assert progress["counts"]["queued"] == 1
    assert progress["status"] == "running"

    client.post(f"/backoffice/campaigns/{campaign.id}/pause")
    session.refresh(campaign)
    assert campaign.status == CampaignStatus.PAUSED
    client.post(f"/backoffice/campaigns/{campaign.id}/cancel")
    session.refresh(campaign)
    assert campaign.status == CampaignStatus.CANCELLED
    page = client.get(f"/backoffice/campaigns/{campaign.id}")
    assert b"Campaign cancelled." in page.data  # the skipped message shows its reason


def test_unknown_placeholder_is_shown_on_the_form_and_nothing_is_saved(
    client, login_as, session, tenant
):
    login_as(factories.make_user(session, tenant))
    answer = client.post("/backoffice/campaigns/new", data={**FORM, "message": "Hi {name}!"})
    assert answer.status_code == 422
    assert b"Unknown placeholder {name}" in answer.data
    assert session.scalar(select(func.count(Campaign.id))) == 0


def test_preview_counts_sms_parts_and_refuses_bad_templates(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant))
    shown = client.get(
        "/backoffice/campaigns/preview", query_string={"channel": "sms", "message": "ç" * 71}
    ).get_json()
    assert (shown["encoding"], shown["segments"]) == ("UCS-2", 2)
    bad = client.get(
        "/backoffice/campaigns/preview", query_string={"channel": "sms", "message": "{oops"}
    )
    assert bad.status_code == 422
    assert "has no partner" in bad.get_json()["error"]


def test_segment_builder_saves_and_counts_live(client, login_as, session, tenant):
    rich = factories.make_member(session, tenant)
    rich.points_balance = 500
    factories.make_member(session, tenant)
    session.flush()
    login_as(factories.make_user(session, tenant))
    assert client.get("/backoffice/segments/count?points_min=100").get_json()["count"] == 1
    bad = client.get("/backoffice/segments/count?points_min=lots")
    assert bad.status_code == 422
    answer = client.post(
        "/backoffice/segments/new", data={"name": "Rich", "points_min": "100", "save": "Save"}
    )
    assert answer.status_code == 302
    segment = session.scalars(select(Segment)).one()
    assert segment.definition == {"points_min": 100}
    page = client.get(f"/backoffice/segments/{segment.id}")
    assert b'data-testid="segment-count" id="segment-count">1<' in page.data


def test_test_send_queues_one_message_to_the_given_address(client, login_as, session, tenant):
    user = factories.make_user(session, tenant)
    login_as(user)
    client.post("/backoffice/campaigns/new", data=FORM)
    campaign = session.scalars(select(Campaign)).one()
    client.post(
        f"/backoffice/campaigns/{campaign.id}/test",
        data={"channel": "sms", "address": "+352 621 123 456"},
    )
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "campaign_test")
    ).one()
    assert message.address == "+352621123456"
    assert message.payload["text"] == "[Test] Hi Marie, you have 1,250 points."


def test_basic_merchant_sees_the_offer_and_cannot_save(client, login_as, session):
    basic = factories.make_tenant(session, offering=Offering.BASIC)
    login_as(factories.make_user(session, basic))
    page = client.get("/backoffice/campaigns")
    assert b"not included in your Basic offering" in page.data
    assert b"New campaign" not in page.data
    assert b">Campaigns</a>" not in client.get("/backoffice/").data  # not in the navbar
    answer = client.post("/backoffice/campaigns/new", data=FORM)
    assert session.scalar(select(func.count(Campaign.id))) == 0
    assert answer.status_code in (200, 422)
    segment = client.post(
        "/backoffice/segments/new", data={"name": "All", "save": "Save"}, follow_redirects=True
    )
    assert session.scalar(select(func.count(Segment.id))) == 0
    assert segment.status_code in (200, 422)
    assert client.get("/backoffice/segments/count").status_code == 403


def test_automations_switch_per_merchant(client, login_as, session, tenant):
    from loyalty.services import automations

    login_as(factories.make_user(session, tenant))
    page = client.get("/backoffice/automations").text
    assert "Win-back" in page
    assert "disabled" not in page  # a Plus merchant edits every automation
    client.post(
        "/backoffice/automations",
        data={"key": "win_back", "enabled": "y", "text": "Come back {first_name}", "days": "45"},
    )
    state = automations.state(session, tenant.merchant.id, "win_back")
    assert state.enabled
    assert state.days == 45


def test_managers_only(client, login_as, session, tenant):
    login_as(factories.make_user(session, tenant, role=factories.Role.STAFF))
    assert client.get("/backoffice/campaigns").status_code == 403
