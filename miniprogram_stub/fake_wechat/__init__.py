"""A local fake of WeChat's server-side HTTP API, for development and tests.

It answers WeChat's real paths under ``/__fakewx`` (``sns/jscode2session``,
``cgi-bin/token``, ``wxa/business/getuserphonenumber``, the message sends,
the menu, the official account's user info) plus a fake real-name check (``idverify/v1/check``) and an
inspection API (``/__fakewx/_sent``, ``_faults``, ``_stats``, ``_reset``, …).

Mount it in the backend with ``app.blueprint(create_blueprint())``, or run it
alone with ``python -m miniprogram_stub.fake_wechat --port 8001``. Point a
client at ``http://HOST:PORT/__fakewx/`` where it would use
``https://api.weixin.qq.com/``.
"""

from miniprogram_stub.fake_wechat.platform import (
    ENDPOINTS,
    FakePlatform,
    Fault,
    SyntheticPerson,
    gb11643_check_digit,
    is_valid_id_number,
    openid_for,
    phone_for,
    unionid_for,
)
from miniprogram_stub.fake_wechat.routes import PREFIX, create_blueprint, create_fake_app

__all__ = [
    "ENDPOINTS",
    "PREFIX",
    "FakePlatform",
    "Fault",
    "SyntheticPerson",
    "create_blueprint",
    "create_fake_app",
    "gb11643_check_digit",
    "is_valid_id_number",
    "openid_for",
    "phone_for",
    "unionid_for",
]
