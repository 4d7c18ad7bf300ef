"""The WeChat Official Account (微信公众号) channel, one adapter package.

``protocol`` checks signatures and reads WeChat's XML, ``envelope`` opens and seals
messages in safe mode (AES), ``api`` calls WeChat's HTTP API (access token,
customer-service and template messages, media), ``render`` turns Rasa's replies into
WeChat pieces (texts, images), ``media`` uploads our images, ``template`` fills the
template message, ``inbound`` stores each message once, and ``channel`` runs a turn (its
answer kept in the outbox, then one text as the passive reply within WeChat's 5 seconds,
else every piece in order by the customer-service API) and is the adapter through which
the core outbox sender (bot/core/outbox.py) delivers WeChat rows. The web app mounts it
at ``/wechat`` (web/wechat.py).
"""
