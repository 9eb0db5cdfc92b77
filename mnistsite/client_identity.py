"""Who a request comes from, by one rule for the throttles and the login limits.

DRF's throttles decide from `REST_FRAMEWORK["NUM_PROXIES"]` (the NUM_PROXIES setting):
0 ignores X-Forwarded-For and uses REMOTE_ADDR; N > 0 takes the address that the
outermost of the N trusted proxies appended (the N-th from the right). django-axes asks
this function, so that a lockout and a throttle name the same client.
"""

from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the throttles see it (axes' AXES_CLIENT_IP_CALLABLE)."""
    return BaseThrottle().get_ident(request)
