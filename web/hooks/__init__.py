"""Provider callbacks: Twilio's inbound SMS and delivery status (url_prefix /hooks).

Register `blueprint` only. Every request must carry a valid X-Twilio-Signature.
"""

from web.hooks.views import blueprint

__all__ = ["blueprint"]
