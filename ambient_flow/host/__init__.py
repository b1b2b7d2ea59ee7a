"""The host inside your own process: `Host`, and `CaptureReceiver` (the seed's shape).

Importing this loads Bytewax and pyzmq, never a model library: the models load when a
host starts (or is prepared), from the settings.
"""

from ambient_flow.host.host import Host
from ambient_flow.host.receiver import CaptureReceiver
from ambient_flow.host.subscriptions import AsyncSubscription, Subscription

__all__ = ["AsyncSubscription", "CaptureReceiver", "Host", "Subscription"]
