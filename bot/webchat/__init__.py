"""The web chat as a channel on the messaging core: the resident's messages are stored in
``inbound_messages`` before Rasa sees them, every bot message is an ``outbox`` row (its id
is the message id), and the page pulls the rows it has not drawn yet."""
