"""The messaging core every channel shares: the inbound store (``inbound``: dedupe, claim
lease, back-off, order), one Rasa client and one slash neutraliser (``rasa``), one turn at
a time per conversation (``turns``), turns safe to send again (``replay``), the texts about
kept messages (``texts``), the adapter contract (``contract``) and the outbox sender
(``outbox``)."""
