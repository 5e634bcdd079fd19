"""Wallet passes on the web: Apple's PassKit web service and the customers' "Add to Wallet" links.

`blueprint` (url_prefix /wallet) holds the download links and carries the PassKit web service
(/wallet/apple, the passes' webServiceURL) as a nested blueprint: register `blueprint` only.
"""

from web.passkit.views import blueprint

__all__ = ["blueprint"]
