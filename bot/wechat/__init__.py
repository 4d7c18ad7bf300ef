"""The WeChat Official Account (微信公众号) channel, one adapter package.

``protocol`` checks signatures and reads WeChat's XML, ``api`` calls WeChat's HTTP API
(access token, customer-service and template messages, media), ``render`` turns Rasa's
replies into WeChat text, ``inbound`` stores each message once, ``channel`` runs a turn
(passive reply within WeChat's 5 seconds, else the customer-service API), and ``sender``
delivers the outbox's WeChat notices. The web app mounts it at ``/wechat`` (web/wechat.py).
"""
